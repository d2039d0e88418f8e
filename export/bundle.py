"""Model bundles: an artifact beside an ``imuedge.json`` manifest, and ONE loading API.

    bundle/
        model.pte | model.tflite | model.onnx | model.pt2
        imuedge.json

``load_bundle(path, threads=1)`` returns a ``Predictor`` for any of the four
backends (ExecuTorch runtime, LiteRT interpreter, onnxruntime, PyTorch),
with one interface::

    p = load_bundle("out/pte-int8")
    p.manifest                        # the parsed imuedge.json
    p.predict(window)                 # (C, T) -> (K,) ; (B, C, T) -> (B, K)

Batch: .pte and .tflite graphs are exported at batch 1 (``input.batch`` = 1
in the manifest) and the predictor runs a batch window by window; .onnx
and .pt2 take any batch (``input.batch`` = null) in one call.

Refusals: a manifest from a newer schema version, an artifact whose sha256
differs from the manifest's, a window whose shape differs from the manifest's
input -- each raises with both sides named.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from imuedge.atomic import atomic_write

SCHEMA = "imuedge-bundle"
SCHEMA_VERSION = 1
MANIFEST = "imuedge.json"
ARTIFACTS = {"pte": "model.pte", "tflite": "model.tflite", "onnx": "model.onnx", "torch": "model.pt2"}


class BundleError(RuntimeError):
    """A bundle that cannot be trusted or read: bad hash, newer schema, missing files."""


def sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(folder: str | os.PathLike, manifest: dict) -> Path:
    """Write ``imuedge.json`` atomically (temp file, fsync, rename)."""
    folder = Path(folder)
    path = folder / MANIFEST
    def write(f):
        json.dump(manifest, f, indent=2, sort_keys=False, default=_jsonable)
        f.write("\n")

    return atomic_write(path, write)


def _jsonable(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


def make_manifest(*, fmt: str, precision: str, task: str, window: dict, output: dict, artifact: Path,
                  batch: int | None, quantization: dict | None = None, backend: dict | None = None,
                  parity: dict | None = None, provenance: dict | None = None) -> dict:
    """The ``imuedge.json`` dict for an artifact already written."""
    c, t = len(window["channels"]), int(window["window"])
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "task": task,
        "format": fmt,
        "precision": precision,
        "artifact": {"file": artifact.name, "sha256": sha256(artifact), "bytes": artifact.stat().st_size},
        "input": {"name": "window", "dtype": "float32", "layout": "(batch, channels, samples)",
                  "shape": [batch, c, t], "batch": batch, **window},
        "output": {"kind": "logits" if task == "classify" else "embedding", **output},
        "quantization": quantization,
        "backend": backend or {},
        "parity": parity or {},
        "provenance": provenance or {},
    }


def read_manifest(path: str | os.PathLike) -> tuple[dict, Path]:
    """(manifest, bundle folder) for a bundle folder, its imuedge.json or its artifact file."""
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    mpath = folder / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{p}: no {MANIFEST} (a bundle is a folder with the model file and {MANIFEST})")
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, ValueError) as e:
        raise BundleError(f"{mpath}: unreadable manifest ({e})") from e
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise BundleError(f"{mpath}: not an imuedge bundle manifest (no 'schema': '{SCHEMA}')")
    version = manifest.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise BundleError(f"{mpath}: bundle schema version {version} is newer than this imuedge understands "
                          f"({SCHEMA_VERSION}); upgrade imuedge to load it")
    return manifest, folder


class Predictor:
    """One interface over every backend: ``predict(window) -> np.ndarray``, ``manifest``, ``threads``."""

    def __init__(self, manifest: dict, artifact: Path, threads: int = 1):
        self.manifest = manifest
        self.artifact = artifact
        self.threads = int(threads)
        inp = manifest["input"]
        self.channels = list(inp["channels"])
        self.samples = int(inp["window"])
        self.batch = inp.get("batch")
        self._load()

    def _load(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _run(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def input_shape(self) -> tuple[int, int]:
        return len(self.channels), self.samples

    def check_window(self, window) -> np.ndarray:
        x = np.asarray(window)
        expected = self.input_shape
        if x.ndim not in (2, 3) or tuple(x.shape[-2:]) != expected:
            raise ValueError(f"window shape {tuple(x.shape)} does not match this bundle's input "
                             f"(channels={expected[0]} {self.channels}, samples={expected[1]}): expected "
                             f"{expected} or (batch, {expected[0]}, {expected[1]})")
        return np.ascontiguousarray(x, dtype=np.float32)

    def predict(self, window) -> np.ndarray:
        """``(C, T)`` -> ``(K,)``; ``(B, C, T)`` -> ``(B, K)`` (logits or embeddings), float32."""
        x = self.check_window(window)
        single = x.ndim == 2
        if single:
            x = x[None]
        if self.batch is None:
            out = self._run(x)
        else:
            b = int(self.batch)
            outs = []
            for i in range(0, len(x), b):
                chunk = x[i:i + b]
                n = len(chunk)
                if n < b:  # pad the last chunk to the graph's fixed batch
                    chunk = np.concatenate([chunk, np.zeros((b - n, *chunk.shape[1:]), np.float32)])
                outs.append(self._run(chunk)[:n])
            out = np.concatenate(outs) if outs else np.zeros((0,), np.float32)
        out = np.asarray(out, dtype=np.float32)
        return out[0] if single else out

    def __repr__(self) -> str:
        m = self.manifest
        return f"{type(self).__name__}({m['format']}-{m['precision']}, {self.artifact})"


class PtePredictor(Predictor):
    """ExecuTorch's Python runtime (``executorch.runtime.Runtime``). ``threads`` resets the
    process-wide XNNPACK threadpool (ExecuTorch has one per process)."""

    def _load(self):
        import torch
        from executorch.extension.pybindings import portable_lib
        from executorch.runtime import Runtime

        self._torch = torch
        if self.threads > 0 and portable_lib._threadpool_get_thread_count() != self.threads:
            portable_lib._unsafe_reset_threadpool(self.threads)
        self._program = Runtime.get().load_program(self.artifact)
        self._method = self._program.load_method("forward")

    def _run(self, x):
        return self._method.execute((self._torch.from_numpy(x),))[0].numpy()


class TflitePredictor(Predictor):
    """LiteRT (``ai_edge_litert.interpreter.Interpreter``, default XNNPACK delegate)."""

    def _load(self):
        from ai_edge_litert.interpreter import Interpreter

        self._it = Interpreter(model_path=str(self.artifact), num_threads=max(1, self.threads))
        self._it.allocate_tensors()
        self._in = self._it.get_input_details()[0]["index"]
        self._out = self._it.get_output_details()[0]["index"]

    def _run(self, x):
        self._it.set_tensor(self._in, x)
        self._it.invoke()
        return self._it.get_tensor(self._out).copy()


class OnnxPredictor(Predictor):
    """onnxruntime, CPUExecutionProvider, ``intra_op_num_threads = threads``."""

    def _load(self):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, self.threads)
        opts.inter_op_num_threads = 1
        self._sess = ort.InferenceSession(str(self.artifact), opts, providers=["CPUExecutionProvider"])
        self._name = self._sess.get_inputs()[0].name

    def _run(self, x):
        return self._sess.run(None, {self._name: x})[0]


class TorchPredictor(Predictor):
    """PyTorch reference: a ``torch.export`` program (.pt2). ``threads`` sets torch's
    process-wide intra-op thread count."""

    def _load(self):
        import torch

        self._torch = torch
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        self._module = torch.export.load(str(self.artifact)).module()

    def _run(self, x):
        with self._torch.no_grad():
            return self._module(self._torch.from_numpy(x)).numpy()


PREDICTORS = {"pte": PtePredictor, "tflite": TflitePredictor, "onnx": OnnxPredictor, "torch": TorchPredictor}


def load_bundle(path: str | os.PathLike, threads: int = 1, verify: bool = True) -> Predictor:
    """Open a bundle (folder, its imuedge.json, or its model file) with the runtime of its format.

    Refuses (``BundleError``) a newer schema, a missing artifact or one whose
    sha256 differs from the manifest (``verify=False`` skips only the hash).
    """
    manifest, folder = read_manifest(path)
    fmt = manifest.get("format")
    if fmt not in PREDICTORS:
        raise BundleError(f"{folder}: unknown bundle format {fmt!r}; known: {sorted(PREDICTORS)}")
    art = manifest.get("artifact") or {}
    artifact = folder / str(art.get("file", ""))
    if not art.get("file") or not artifact.is_file():
        raise BundleError(f"{folder}: artifact {art.get('file')!r} named by {MANIFEST} is missing")
    if verify:
        actual = sha256(artifact)
        if actual != art.get("sha256"):
            raise BundleError(f"{artifact}: sha256 {actual} does not match the manifest's {art.get('sha256')}; "
                              f"the model file was changed or corrupted after export -- refusing to load it")
    return PREDICTORS[fmt](manifest, artifact, threads)
