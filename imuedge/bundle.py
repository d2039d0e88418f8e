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

Refusals (``BundleError``, one line, both sides named): a manifest that breaks the
schema (``imuedge.manifest.check_manifest``: types, required fields) or comes from a
newer schema version; an artifact whose sha256 differs from the manifest's; a
manifest edited after export (its binding or its probe windows' classes differ:
``fingerprint``); a model file that does not load, or whose own input / output
shapes differ from the manifest's. A window whose shape differs from the manifest's
input is a ``ValueError`` at ``predict``.

A model file is untrusted input: a corrupt .onnx or .tflite fails to load with an
exception (turned into a ``BundleError``), but a corrupt .pte can abort the whole
process inside ExecuTorch's C++ runtime (an op or backend name that is not UTF-8
makes its logger throw). So the first time a .pte with a given sha256 is loaded it is
loaded and run once in a child process (about the cost of importing the runtime;
``python -m benchmarks.bundle_load_bench``); a file that takes the child down is refused,
one that passes is remembered in ``~/.cache/imuedge/checked-pte/`` and loaded in-process.
The exporter marks the .pte files it writes as checked.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from imuedge.atomic import atomic_write
from imuedge.digest import sha256
from imuedge.quiet import quiet_runtime
from imuedge.manifest import (MANIFEST, SCHEMA, SCHEMA_VERSION, BundleError, binding, check_binding,  # noqa: F401
                              check_manifest, window_spec)

ARTIFACTS = {"pte": "model.pte", "tflite": "model.tflite", "onnx": "model.onnx", "torch": "model.pt2"}


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
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BundleError(f"{mpath}: unreadable manifest ({str(e)[:200]})") from e
    return check_manifest(manifest, mpath), folder


class Predictor:
    """One interface over every backend: ``predict(window) -> np.ndarray``, ``manifest``, ``spec`` (its input
    contract, a ``WindowSpec``), ``threads``."""

    def __init__(self, manifest: dict, artifact: Path, threads: int = 1):
        self.manifest = manifest
        self.artifact = artifact
        self.threads = int(threads)
        self.spec = window_spec(manifest)
        self.channels = list(self.spec.channels)
        self.samples = self.spec.window
        self.batch = manifest["input"].get("batch")
        try:
            with quiet_runtime():
                self._load()
        except BundleError:
            raise
        except Exception as e:  # noqa: BLE001 - a model file the runtime cannot read, whatever it raises
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise BundleError(f"{artifact}: not a loadable {manifest['format']} model file "
                              f"({type(e).__name__}: {first})") from e
        self.check_shapes()

    def _load(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _run(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def io_shapes(self) -> tuple[list, list]:  # pragma: no cover - abstract
        """The model file's own (input shape, output shape); None or a name for a dynamic dimension."""
        raise NotImplementedError

    def expected_output(self) -> int | None:
        out, task = self.manifest["output"], self.manifest["task"]
        return len(out["class_names"]) if task == "classify" else out.get("embedding_size")

    def check_shapes(self) -> None:
        """Refuse a model file whose input (batch, channels, samples) or output size is not the manifest's."""
        if self.manifest["task"] not in ("classify", "embed"):
            return
        got_in, got_out = self.io_shapes()
        want_in = [self.batch, len(self.channels), self.samples]
        fixed = [d if isinstance(d, int) and d > 0 else None for d in got_in]
        if len(fixed) != 3 or fixed[1:] != want_in[1:] or (self.batch is not None and fixed[0] not in (None, self.batch)):
            raise BundleError(f"{self.artifact}: the model file takes input {tuple(got_in)}, the manifest says "
                              f"(batch {self.batch}, {len(self.channels)} channels {self.channels}, "
                              f"{self.samples} samples)")
        k = self.expected_output()
        if not got_out or got_out[-1] != k:
            what = f"{k} classes {self.manifest['output'].get('class_names')}" if self.manifest["task"] == "classify" \
                else f"embedding size {k}"
            raise BundleError(f"{self.artifact}: the model file gives output {tuple(got_out)}, the manifest says "
                              f"{what}")

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
        try:
            import torch
            from executorch.runtime import Runtime
        except ImportError as e:
            raise BundleError(f"{self.artifact}: .pte bundles run in ExecuTorch's Python runtime, which imports "
                              f"torch; this install has no {e.name} (a device install): pip install "
                              f"'imuedge[pte]', or use the bundle's .onnx or .tflite sibling") from None
        probe_pte(self.artifact)
        self._torch = torch
        set_pte_threads(self.threads)
        self._program = Runtime.get().load_program(self.artifact)
        self._method = self._program.load_method("forward")

    def io_shapes(self):
        meta = self._method.metadata
        return list(meta.input_tensor_meta(0).sizes()), list(meta.output_tensor_meta(0).sizes())

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

    def io_shapes(self):
        return ([int(d) for d in self._it.get_input_details()[0]["shape"]],
                [int(d) for d in self._it.get_output_details()[0]["shape"]])

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

    def io_shapes(self):
        return list(self._sess.get_inputs()[0].shape), list(self._sess.get_outputs()[0].shape)

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
        self._program = torch.export.load(str(self.artifact))
        self._module = self._program.module()

    def io_shapes(self):
        user = set(self._program.graph_signature.user_inputs)
        nodes = list(self._program.graph.nodes)
        inp = next(n.meta["val"].shape for n in nodes if n.op == "placeholder" and n.name in user)
        out = next(n for n in nodes if n.op == "output").args[0][0].meta["val"].shape
        return ([int(d) if str(d).isdigit() else None for d in inp], [int(d) if str(d).isdigit() else None for d in out])

    def _run(self, x):
        with self._torch.no_grad():
            return self._module(self._torch.from_numpy(x)).numpy()


PREDICTORS = {"pte": PtePredictor, "tflite": TflitePredictor, "onnx": OnnxPredictor, "torch": TorchPredictor}


def load_bundle(path: str | os.PathLike, threads: int = 1, verify: bool = True) -> Predictor:
    """Open a bundle (folder, its imuedge.json, or its model file) with the runtime of its format.

    Refuses (``BundleError``) a manifest that breaks the schema or is newer, a missing artifact, one whose
    sha256 differs from the manifest's, a manifest edited after export (fingerprint), and a model file that
    does not load or whose shapes differ from the manifest. ``verify=False`` skips the hash and the
    fingerprint, never the schema, the shapes or the safe first load of a .pte.
    """
    manifest, folder = read_manifest(path)
    art = manifest["artifact"]
    artifact = folder / art["file"]
    if not artifact.is_file():
        raise BundleError(f"{folder}: artifact {art['file']!r} named by {MANIFEST} is missing")
    if verify:
        actual = sha256(artifact)
        if actual != art["sha256"]:
            raise BundleError(f"{artifact}: sha256 {actual} does not match the manifest's {art['sha256']}; "
                              f"the model file was changed or corrupted after export -- refusing to load it")
        check_binding(manifest, folder / MANIFEST)
    if manifest["task"] == "generate":  # a sampler: noise + class id -> windows (generator.py)
        from imuedge.generator import GeneratorBundle
        return GeneratorBundle(manifest, artifact, threads)
    predictor = PREDICTORS[manifest["format"]](manifest, artifact, threads)
    if verify:
        check_probe(predictor, folder / MANIFEST)
    return predictor


# ---------------------------------------------------------------- fingerprint
PROBE_WINDOWS = 8


def make_fingerprint(predictor: Predictor, windows: np.ndarray) -> dict:
    """What ``load_bundle`` checks a manifest against: the binding hash and, for a classifier, up to
    ``PROBE_WINDOWS`` of ``windows`` (one per class the model predicts, the clearest call of each), keyed by
    channel name, with the class the model gives each."""
    fp = {"binding_sha256": binding(predictor.manifest)}
    if predictor.manifest["task"] != "classify" or not len(windows):
        return fp
    out = predictor.predict(windows)
    top2 = np.sort(out, axis=1)[:, -2:] if out.shape[1] > 1 else np.concatenate([out, out], 1)
    margin, pred = top2[:, 1] - top2[:, 0], out.argmax(1)
    picks = [int(np.flatnonzero(pred == k)[np.argmax(margin[pred == k])]) for k in np.unique(pred)]
    picks = sorted(picks, key=lambda i: -margin[i])[:PROBE_WINDOWS]
    names = predictor.manifest["output"]["class_names"]
    chosen = np.asarray(windows, np.float32)[picks]
    fp["probe"] = {"channels": {c: [[float(f"{v:.6g}") for v in w[i]] for w in chosen]
                                for i, c in enumerate(predictor.channels)},
                   "classes": [names[int(pred[i])] for i in picks],
                   "margins": [round(float(margin[i]), 4) for i in picks]}
    return fp


def check_probe(predictor: Predictor, path) -> None:
    """Run the fingerprint's probe windows in the manifest's channel order; the classes must be those recorded."""
    probe = (predictor.manifest.get("fingerprint") or {}).get("probe")
    if not probe:
        return
    try:
        x = np.stack([np.asarray(probe["channels"][c], np.float32) for c in predictor.channels], axis=1)
        recorded = list(probe["classes"])
    except (KeyError, TypeError, ValueError) as e:
        raise BundleError(f"{path}: manifest field 'fingerprint.probe' is malformed ({type(e).__name__}: {e})") \
            from None
    names = predictor.manifest["output"]["class_names"]
    got = [names[int(k)] for k in predictor.predict(x).argmax(1)]
    if got != recorded:
        raise BundleError(f"{path}: on the probe windows recorded at export the model now gives {got}, the "
                          f"manifest records {recorded}: its channel order or class names do not belong to "
                          f"this model file")


# ---------------------------------------------------------------- a .pte's first load
PTE_CHECKED = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "imuedge" / "checked-pte"
_checked_here: set[str] = set()
_PROBE = """
import sys
import numpy as np
import torch
from executorch.runtime import Runtime
m = Runtime.get().load_program(sys.argv[1]).load_method("forward")
x = torch.zeros(tuple(m.metadata.input_tensor_meta(0).sizes()), dtype=torch.float32)
m.execute((x,))
print("ok")
"""


def probe_pte(artifact: Path) -> None:
    """Load and run ``artifact`` once in a child process unless a file with its sha256 passed before; refuse a
    file that makes the child fail (ExecuTorch aborts the process on some corrupt programs)."""
    digest = sha256(artifact)
    marker = PTE_CHECKED / digest
    if digest in _checked_here or marker.is_file():
        return
    with tempfile.TemporaryFile() as err:
        try:
            r = subprocess.run([sys.executable, "-c", _PROBE, str(artifact)], stdout=subprocess.PIPE, stderr=err,
                               timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        except subprocess.TimeoutExpired:
            raise BundleError(f"{artifact}: the ExecuTorch program did not load and run within 300 s") from None
        err.seek(0)
        lines = [ln for ln in err.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    if r.returncode != 0 or b"ok" not in r.stdout:
        why = f"signal {-r.returncode}" if r.returncode < 0 else f"exit {r.returncode}"
        last = next((ln.strip() for ln in reversed(lines) if "Error" in ln or "what()" in ln), lines[-1] if lines else "")
        raise BundleError(f"{artifact}: not a loadable ExecuTorch program (a trial load in a child process ended "
                          f"with {why}: {last[:200]})")
    mark_pte_checked(digest)


def set_pte_threads(threads: int) -> None:
    """ExecuTorch's thread pool (one per process, shared by every loaded .pte) set to ``threads`` when it differs;
    ``threads`` <= 0 leaves it as it is (ExecuTorch's choice)."""
    from executorch.extension.pybindings import portable_lib

    if threads > 0 and portable_lib._threadpool_get_thread_count() != threads:
        portable_lib._unsafe_reset_threadpool(threads)


def mark_pte_checked(digest: str) -> None:
    """Remember that the .pte with this sha256 loads safely (the child process ran it, or this process's
    exporter just wrote it from a program ExecuTorch itself lowered)."""
    _checked_here.add(digest)
    with contextlib.suppress(OSError):
        PTE_CHECKED.mkdir(parents=True, exist_ok=True)
        (PTE_CHECKED / digest).touch()
