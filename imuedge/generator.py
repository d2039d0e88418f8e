"""Generator bundles (task ``generate``): a distilled sampler whose loop is unrolled in the graph.

    g = load_bundle("out/student/onnx-fp32")      # a GeneratorBundle for task "generate"
    g.class_names                                 # ['walking', ...]
    x = g.sample("walking", n=16, seed=0)         # (16, C, T) float32 windows, m/s^2 and rad/s
    x = g.generate(noise, class_id)               # the graph itself: (B, *noise_shape) + (B,) int64

The graph's inputs are ``noise`` float32 ``(batch, *noise_shape)`` (STFT planes ``(planes, bins, frames)``
for the STFT-domain student, a latent sequence ``(channels, positions)`` for the latent model) and ``class_id``
int64 ``(batch,)`` (int32 in a .tflite, as the manifest's ``input.class_id.dtype`` says; ``generate`` takes
any integers); its output is ``window`` float32 ``(batch, channels, samples)`` in the window contract's units.
``sample`` draws the noise from ``numpy.random.default_rng(seed)`` (standard normal, float32), so a
(class, n, seed) gives the same windows in every runtime. Bad input is refused with one line: an
unknown class, a noise tensor of the wrong shape or not finite, a class id out of range. The guidance
weight is folded into the student at distillation, or fixed in the latent model's graph
(``manifest["sampler"]["guidance"]``), so there is no guidance input.

Torch-free for .onnx and .tflite, like the classifier predictors (``bundle.py``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from imuedge.manifest import BundleError
from imuedge.quiet import quiet_runtime

NOISE, CLASS_ID, WINDOW = "noise", "class_id", "window"


class GeneratorBundle:
    def __init__(self, manifest: dict, artifact: Path, threads: int = 1):
        self.manifest, self.artifact, self.threads = manifest, Path(artifact), int(threads)
        try:
            inp, out = manifest["input"], manifest["output"]
            self.noise_shape = tuple(int(d) for d in inp[NOISE]["shape"][1:])
            self.batch = inp.get("batch")
            self.class_names = [str(c) for c in out["class_names"]]
            self.channels = list(out["channels"])
            self.samples = int(out["window"])
            self.sample_rate_hz = float(out["sample_rate_hz"])
        except (KeyError, TypeError, ValueError) as e:
            raise BundleError(f"{artifact}: generator manifest lacks input.noise.shape / output.class_names, "
                              f"channels, window, sample_rate_hz ({type(e).__name__}: {e})") from None
        try:
            with quiet_runtime():
                self._run = getattr(self, f"_load_{manifest['format']}")()
        except BundleError:
            raise
        except Exception as e:  # noqa: BLE001 - a model file the runtime cannot read
            raise BundleError(f"{artifact}: not a loadable {manifest['format']} generator "
                              f"({type(e).__name__}: {str(e).strip()[:300]})") from e

    # ------------------------------------------------------------ runtimes
    def _load_onnx(self):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = max(1, self.threads), 1
        sess = ort.InferenceSession(str(self.artifact), opts, providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        return lambda z, c: sess.run(None, {names[0]: z, names[1]: c})[0]

    def _load_tflite(self):
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=str(self.artifact), num_threads=max(1, self.threads))
        it.allocate_tensors()
        ins = sorted(it.get_input_details(), key=lambda d: len(d["shape"]), reverse=True)  # noise (4-D), class (1-D)
        out = it.get_output_details()[0]["index"]

        def run(z, c):
            it.set_tensor(ins[0]["index"], z)
            it.set_tensor(ins[1]["index"], c.astype(ins[1]["dtype"]))
            it.invoke()
            return it.get_tensor(out).copy()
        return run

    def _load_pte(self):
        import torch
        from executorch.runtime import Runtime

        from imuedge.bundle import _checked_here, PTE_CHECKED, set_pte_threads
        from imuedge.digest import sha256

        digest = sha256(self.artifact)
        if digest not in _checked_here and not (PTE_CHECKED / digest).is_file():
            raise BundleError(f"{self.artifact}: this .pte generator was not written by this machine's exporter; "
                              f"load its .onnx or .tflite sibling (a foreign .pte can abort the process)")
        set_pte_threads(self.threads)
        method = Runtime.get().load_program(self.artifact).load_method("forward")
        return lambda z, c: method.execute((torch.from_numpy(z), torch.from_numpy(c)))[0].numpy()

    def _load_torch(self):
        import torch

        module = torch.export.load(str(self.artifact)).module()

        def run(z, c):
            with torch.no_grad():
                return module(torch.from_numpy(z), torch.from_numpy(c)).numpy()
        return run

    # ------------------------------------------------------------ the calls
    def class_index(self, class_name) -> int:
        if isinstance(class_name, (int, np.integer)) and not isinstance(class_name, bool):
            if 0 <= int(class_name) < len(self.class_names):
                return int(class_name)
            raise ValueError(f"class id {class_name} is out of range 0..{len(self.class_names) - 1}")
        if class_name not in self.class_names:
            raise ValueError(f"unknown class {class_name!r}; this generator knows {self.class_names}")
        return self.class_names.index(class_name)

    def noise(self, n: int, seed: int) -> np.ndarray:
        """The standard-normal noise ``sample`` uses for (n, seed)."""
        return np.random.default_rng(seed).standard_normal((n, *self.noise_shape)).astype(np.float32)

    def generate(self, noise, class_id) -> np.ndarray:
        """The graph on given noise ``(B, *noise_shape)`` and class ids ``(B,)`` -> windows ``(B, C, T)``."""
        z = np.asarray(noise)
        if z.ndim != 1 + len(self.noise_shape) or tuple(z.shape[1:]) != self.noise_shape:
            raise ValueError(f"noise of shape {tuple(z.shape)} does not fit this generator: expected "
                             f"(batch, {', '.join(map(str, self.noise_shape))})")
        z = np.ascontiguousarray(z, dtype=np.float32)
        if not np.isfinite(z).all():
            raise ValueError("noise holds NaN or infinite values")
        c = np.asarray(class_id)
        if c.shape != (len(z),) or not np.issubdtype(c.dtype, np.integer):
            raise ValueError(f"class_id must be {len(z)} integers (one per noise tensor), got shape {c.shape} "
                             f"of {c.dtype}")
        if len(c) and (c.min() < 0 or c.max() >= len(self.class_names)):
            raise ValueError(f"class id {int(c.min() if c.min() < 0 else c.max())} is out of range "
                             f"0..{len(self.class_names) - 1}")
        c = c.astype(np.int64)
        if self.batch is None:
            return np.asarray(self._run(z, c), np.float32)
        b = int(self.batch)
        return np.concatenate([self._run(z[i:i + b], c[i:i + b]) for i in range(0, len(z), b)]).astype(np.float32) \
            if len(z) else np.zeros((0, len(self.channels), self.samples), np.float32)

    def sample(self, class_name, n: int = 1, seed: int = 0) -> np.ndarray:
        """``n`` windows of one class, from the noise of ``seed``: (n, C, T) float32, m/s^2 and rad/s."""
        k = self.class_index(class_name)
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
            raise ValueError(f"number of windows must be a non-negative integer, got {n!r}")
        return self.generate(self.noise(int(n), seed), np.full(int(n), k, np.int64))
