"""Images for pretraining the image backbone.

``ProceduralImages`` needs no download and is the default pretraining
source: each index deterministically yields one of

* dead leaves -- random overlapping discs and rectangles of random colours
  with power-law sizes (occlusion statistics close to natural images);
* spectral noise -- colour noise with a 1/f^alpha amplitude spectrum and a
  random per-image colour mix (correlated channels, as in spectrograms of
  a sensor's three axes);
* stripes -- sums of a few oriented sinusoidal gratings with random
  colours, some nearly horizontal or vertical (like harmonics and
  transients in spectrograms).

``ImageFolder`` reads png/jpg files under a folder (ImageNet-scale
collections) with Pillow. Both return float32 ``(3, H, W)`` standardised per
channel (zero mean, unit std over the pixels), the statistics of
``imuedge.spectrogram.Spectrogram``'s output, so a backbone pretrained on
them sees the same input scale as on IMU spectrograms.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def standardize(image: np.ndarray, eps: float = 1e-5) -> torch.Tensor:
    """``(3, H, W)`` -> float32 tensor, per channel zero mean and unit std."""
    image = image.astype(np.float64)
    mean = image.mean(axis=(1, 2), keepdims=True)
    std = image.std(axis=(1, 2), keepdims=True)
    return torch.from_numpy(((image - mean) / (std + eps)).astype(np.float32))


def dead_leaves(rng: np.random.Generator, h: int, w: int, n_shapes: int = 120,
                min_radius: float = 2.0, max_radius: float = 40.0) -> np.ndarray:
    """Shapes drawn back to front; radii follow r^-3 (scale-invariant)."""
    image = np.empty((3, h, w))
    image[:] = rng.uniform(0, 1, (3, 1, 1))
    yy, xx = np.mgrid[0:h, 0:w]
    u = rng.uniform(0, 1, n_shapes)
    radii = (min_radius ** -2 - u * (min_radius ** -2 - max_radius ** -2)) ** -0.5
    for r in radii:
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        colour = rng.uniform(0, 1, 3)
        y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, h)
        x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, w)
        if y0 >= y1 or x0 >= x1:
            continue
        if rng.uniform() < 0.5:  # disc
            mask = (yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2 <= r * r
        else:  # axis-aligned rectangle of random aspect
            ry = r * rng.uniform(0.3, 1.0)
            mask = np.abs(yy[y0:y1, x0:x1] - cy) <= ry
        image[:, y0:y1, x0:x1][:, mask] = colour[:, None]
    return image


def spectral_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Gaussian noise shaped to a 1/f^alpha amplitude spectrum, alpha in [1, 2.5],
    optionally anisotropic; three such fields mixed by a random colour matrix."""
    alpha = rng.uniform(1.0, 2.5)
    fy = np.fft.fftfreq(h)[:, None] * rng.uniform(0.5, 2.0)
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fy ** 2 + fx ** 2)
    f[0, 0] = 1.0
    amplitude = f ** -alpha
    amplitude[0, 0] = 0.0
    spectrum = (rng.standard_normal((3, h, w // 2 + 1)) + 1j * rng.standard_normal((3, h, w // 2 + 1))) * amplitude
    fields = np.fft.irfft2(spectrum, s=(h, w))
    mix = rng.uniform(-1, 1, (3, 3)) + np.eye(3) * rng.uniform(0, 2)
    return np.einsum("ij,jhw->ihw", mix, fields)


def stripes(rng: np.random.Generator, h: int, w: int, max_gratings: int = 4) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    image = np.zeros((3, h, w))
    for _ in range(rng.integers(1, max_gratings + 1)):
        angle = rng.choice([0.0, np.pi / 2, rng.uniform(0, np.pi)])
        freq = rng.uniform(1, 30)
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)) + phase)
        if rng.uniform() < 0.5:
            wave = np.sign(wave)  # square wave: sharp edges
        image += rng.uniform(-1, 1, 3)[:, None, None] * wave
    return image + 0.05 * rng.standard_normal((3, h, w))


GENERATORS = {"dead_leaves": dead_leaves, "spectral_noise": spectral_noise, "stripes": stripes}


class ProceduralImages(torch.utils.data.Dataset):
    """Indexable, deterministic: item ``i`` depends only on ``(seed, i)``.

    ``length`` is nominal (an epoch's size for a DataLoader); any
    non-negative index is valid. Kinds cycle with the index."""

    def __init__(self, size: tuple[int, int] = (96, 128), seed: int = 0, length: int = 100_000,
                 kinds: tuple[str, ...] = tuple(GENERATORS)):
        unknown = [k for k in kinds if k not in GENERATORS]
        if unknown or not kinds:
            raise ValueError(f"unknown image kind(s) {unknown}; known: {list(GENERATORS)}")
        self.size, self.seed, self.length, self.kinds = tuple(size), seed, length, tuple(kinds)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        if index < 0:
            raise IndexError(f"negative index {index}")
        rng = np.random.default_rng([self.seed, int(index)])
        kind = self.kinds[int(index) % len(self.kinds)]
        return standardize(GENERATORS[kind](rng, *self.size))

    def batch(self, indices) -> torch.Tensor:
        return torch.stack([self[int(i)] for i in indices])


class ImageFolder(torch.utils.data.Dataset):
    """Every image file under ``path`` (recursive, sorted), centre-cropped to the
    target aspect ratio, resized bilinearly to ``size`` (H, W), standardised.

    An unreadable file is skipped: it is counted in ``skipped`` (per process;
    DataLoader workers each keep their own), logged once, and the next
    readable file is returned in its place. If ``max_skip`` files in a row are
    unreadable, ``RuntimeError`` names them."""

    def __init__(self, path: str | os.PathLike, size: tuple[int, int] = (96, 128),
                 extensions: tuple[str, ...] = IMAGE_EXTENSIONS, max_skip: int = 50):
        self.root = Path(path)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: no such image folder")
        self.files = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in extensions and p.is_file())
        if not self.files:
            raise FileNotFoundError(f"{self.root}: no image files ({', '.join(extensions)}) found under it")
        self.size, self.max_skip = tuple(size), max_skip
        self.skipped: set[Path] = set()

    def __len__(self) -> int:
        return len(self.files)

    def load(self, path: Path) -> torch.Tensor:
        from PIL import Image  # Pillow comes with matplotlib (the train extra)

        h, w = self.size
        with Image.open(path) as img:
            img = img.convert("RGB")
            iw, ih = img.size
            scale = min(iw / w, ih / h)  # largest box of the target aspect ratio
            cw, ch = w * scale, h * scale
            left, top = (iw - cw) / 2, (ih - ch) / 2
            img = img.resize((w, h), Image.BILINEAR, box=(left, top, left + cw, top + ch))
            array = np.asarray(img, dtype=np.float64).transpose(2, 0, 1) / 255.0
        return standardize(array)

    def __getitem__(self, index: int) -> torch.Tensor:
        failures = []
        for k in range(min(self.max_skip, len(self.files))):
            path = self.files[(index + k) % len(self.files)]
            try:
                return self.load(path)
            except Exception as e:  # truncated, not an image, permissions, ...
                if path not in self.skipped:
                    self.skipped.add(path)
                    log.warning("skipping unreadable image %s: %s (%d skipped so far)", path, e, len(self.skipped))
                failures.append(f"{path}: {e}")
        raise RuntimeError(f"{len(failures)} unreadable images in a row under {self.root}:\n" + "\n".join(failures[:5]))
