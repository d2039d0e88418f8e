"""`imuedge generate`: synthetic windows as recordings in the data layer's CSV format.

    imuedge generate runs/student-bundles/onnx-fp32 --class walking,sitting --n 50 --out synth/
    imuedge generate runs/student/student_4.pt --class all --n 20 --seed 3 --out synth/

One CSV file per window (``synthetic_<class>_s<seed>_<i>.csv``: timestamps at the
generator's rate, m/s^2 and rad/s in the header, the class name in ``label``), so
``load_recordings`` / ``imuedge train`` take a synthetic folder like a real one, or
beside one. The ``subject`` column is ``SYNTHETIC_SUBJECT + seed`` (100000 and up), an
id no real data set uses, so synthetic windows stay recognisable after mixing.
The source is a generator bundle (any format, ``load_bundle``) or a student checkpoint.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SYNTHETIC_SUBJECT = 100_000
MAX_WINDOWS = 1_000_000


def open_generator(source, threads: int = 1):
    """A generator bundle folder or a generator checkpoint (.pt: a student, or a latent diffusion model with
    its default DDIM steps and guidance), as an object with ``class_names``,
    ``channels``, ``sample_rate_hz`` and ``sample(class_name, n, seed)``."""
    path = Path(source)
    if path.is_dir() or path.name == "imuedge.json":
        from imuedge.bundle import load_bundle

        g = load_bundle(path, threads=threads)
        if getattr(g, "manifest", {}).get("task") != "generate":
            raise ValueError(f"{source}: a {g.manifest.get('task')!r} bundle, not a generator")
        return g
    if not path.is_file():
        raise ValueError(f"{source}: no such generator bundle folder or student checkpoint")
    return _TorchStudent(path)


class _TorchStudent:
    """A generator checkpoint run in PyTorch, with the bundle's ``sample`` (same noise for the same seed)."""

    def __init__(self, path: Path):
        import torch

        from imuedge.train.diffusion.distill import load_sampler

        self._torch = torch
        self.sampler, ckpt, _ = load_sampler(path)
        self.class_names = [ckpt["label_names"][str(i)] for i in range(len(ckpt["label_names"]))]
        self.channels = list(ckpt["window"]["channels"])
        self.sample_rate_hz = float(ckpt["window"]["sample_rate_hz"])

    def sample(self, class_name, n: int = 1, seed: int = 0) -> np.ndarray:
        if class_name not in self.class_names:
            raise ValueError(f"unknown class {class_name!r}; this generator knows {self.class_names}")
        noise = np.random.default_rng(seed).standard_normal((n, *self.sampler.noise_shape)).astype(np.float32)
        with self._torch.no_grad():
            return self.sampler(self._torch.from_numpy(noise),
                                self._torch.full((n,), self.class_names.index(class_name))).numpy()


def parse_classes(text: str, known: list[str]) -> list[str]:
    if text.strip() == "all":
        return list(known)
    wanted = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in known]
    if not wanted or unknown:
        what = f"unknown class {unknown[0]!r}" if unknown else "no class given"
        raise ValueError(f"{what}; this generator knows {known} (or 'all')")
    return wanted


def generate(source, classes: str, n: int, out, seed: int = 0, threads: int = 1, progress: bool = True) -> list[Path]:
    """Write ``n`` windows of each class as CSV recordings under ``out``; return the files."""
    from tqdm import tqdm

    from imuedge.data import Recording, write_recording_csv

    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_WINDOWS:
        raise ValueError(f"--n must be 1..{MAX_WINDOWS} windows per class, got {n}")
    if seed < 0:
        raise ValueError(f"--seed must be non-negative, got {seed}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    g = open_generator(source, threads)
    names = parse_classes(classes, list(g.class_names))
    out.mkdir(parents=True, exist_ok=True)
    label_names = {i: c for i, c in enumerate(g.class_names)}
    files = []
    for k, name in enumerate(names):
        windows = g.sample(name, n, seed * 1000 + g.class_names.index(name))
        for i, w in enumerate(tqdm(windows, desc=f"writing {name}", disable=not progress, leave=False)):
            rec = Recording(w, np.full(w.shape[1], g.class_names.index(name)), tuple(g.channels), g.sample_rate_hz,
                            SYNTHETIC_SUBJECT + seed, f"synthetic_{name}_s{seed}_{i:05d}")
            files.append(write_recording_csv(out / f"{rec.recording_id}.csv", rec, label_names))
    return files
