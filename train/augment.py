"""Batched image augmentations for contrastive pretraining, torch ops only.

Every augmentation is a small class called as ``aug(images, generator)``
on a batch ``(B, 3, H, W)``; each sample draws its own random parameters
from ``generator`` (a ``torch.Generator``), so a seeded generator makes the
output reproducible. Images are in the standardised space ``Spectrogram``
produces (per channel zero mean, unit std): H is frequency, W is time, and
R, G, B are a sensor's x, y, z axes.

Sensor-aware set (IMG2IMU): transformations that keep an image a plausible
spectrogram -- ``TranslateX`` (circular shift in time), ``PermuteX``
(reorder time segments), ``Hue`` (permute axes = colour channels) and
``Jitter`` (bounded noise and brightness). ``SensorAware`` applies exactly
one of them, picked per sample.

``MocoV2Default``: the MoCo v2 recipe (random resized crop, colour jitter,
random grayscale, Gaussian blur, horizontal flip), adapted to standardised
images (see ``ColorJitter``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LUMA = (0.299, 0.587, 0.114)


def uniform(shape, low: float, high: float, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    u = torch.rand(shape, generator=generator, device=generator.device)
    return (low + (high - low) * u).to(device=like.device, dtype=like.dtype)


def bernoulli(n: int, p: float, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """Boolean ``(n, 1, 1, 1)`` mask, True with probability ``p``."""
    return (torch.rand(n, generator=generator, device=generator.device) < p).to(like.device)[:, None, None, None]


def gather_columns(images: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``out[b, :, :, j] = images[b, :, :, index[b, j]]``."""
    b, c, h, w = images.shape
    return images.gather(3, index.to(images.device)[:, None, None, :].expand(b, c, h, w))


def grayscale(images: torch.Tensor) -> torch.Tensor:
    weights = images.new_tensor(LUMA)[None, :, None, None]
    return (images * weights).sum(dim=1, keepdim=True)


class Identity:
    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return images


class TranslateX:
    """Circular shift along width (time) by a per-sample amount in [1, W-1]; rows keep
    their content, only its phase moves."""

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        b, w = images.shape[0], images.shape[-1]
        shift = torch.randint(1, max(w, 2), (b, 1), generator=generator, device=generator.device)
        index = (torch.arange(w, device=generator.device)[None, :] - shift) % w
        return gather_columns(images, index)


class PermuteX:
    """Cut the width into k contiguous segments (k per sample in [min_segments,
    max_segments]; the last absorbs the remainder) and reorder them at random."""

    def __init__(self, min_segments: int = 2, max_segments: int = 5):
        if not 2 <= min_segments <= max_segments:
            raise ValueError(f"need 2 <= min_segments <= max_segments, got {min_segments}, {max_segments}")
        self.min_segments, self.max_segments = min_segments, max_segments

    def column_order(self, w: int, generator: torch.Generator) -> torch.Tensor:
        k = int(torch.randint(self.min_segments, self.max_segments + 1, (1,), generator=generator,
                              device=generator.device))
        k = min(k, w)
        bounds = [i * (w // k) for i in range(k)] + [w]
        segments = [torch.arange(bounds[i], bounds[i + 1]) for i in range(k)]
        order = torch.randperm(k, generator=generator, device=generator.device).tolist()
        return torch.cat([segments[i] for i in order])

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        w = images.shape[-1]
        index = torch.stack([self.column_order(w, generator) for _ in range(images.shape[0])])
        return gather_columns(images, index)


class Hue:
    """Permute the colour channels (= the sensor's axes) with a random
    non-identity permutation per sample."""

    PERMUTATIONS = ((0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        b, c, h, w = images.shape
        if c != 3:
            raise ValueError(f"Hue needs 3-channel images, got {c}")
        pick = torch.randint(0, len(self.PERMUTATIONS), (b,), generator=generator, device=generator.device)
        perms = torch.tensor(self.PERMUTATIONS)[pick.cpu()].to(images.device)
        return images.gather(1, perms[:, :, None, None].expand(b, c, h, w))


class Jitter:
    """Additive Gaussian noise (clipped at 3 sigma) plus a per-sample, per-channel
    brightness offset in [-brightness, brightness]; every value moves by at most
    ``bound = 3 * sigma + brightness``."""

    def __init__(self, sigma: float = 0.1, brightness: float = 0.1):
        self.sigma, self.brightness = sigma, brightness

    @property
    def bound(self) -> float:
        return 3 * self.sigma + self.brightness

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(images.shape, generator=generator, device=generator.device)
        noise = (noise.clamp(-3, 3) * self.sigma).to(device=images.device, dtype=images.dtype)
        offset = uniform((images.shape[0], images.shape[1], 1, 1), -self.brightness, self.brightness,
                         generator, images)
        return images + noise + offset


class SensorAware:
    """Exactly one of ``ops`` per sample (uniform choice, no cascading).

    ``apply`` also returns which op each sample got."""

    def __init__(self, ops: list | None = None):
        self.ops = ops if ops is not None else [TranslateX(), PermuteX(), Hue(), Jitter()]

    def apply(self, images: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        choice = torch.randint(0, len(self.ops), (images.shape[0],), generator=generator,
                               device=generator.device).to(images.device)
        out = torch.empty_like(images)
        for i, op in enumerate(self.ops):
            picked = (choice == i).nonzero().flatten()
            if picked.numel():
                out[picked] = op(images[picked], generator)
        return out, choice

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.apply(images, generator)[0]


class RandomResizedCrop:
    """Crop a random box (area fraction in ``scale``, aspect ratio in ``ratio``,
    clipped to the image) and resize it back to (H, W) bilinearly."""

    def __init__(self, scale: tuple[float, float] = (0.2, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3)):
        self.scale, self.ratio = scale, ratio

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        b, _, h, w = images.shape
        area = uniform((b,), *self.scale, generator, images)
        aspect = torch.exp(uniform((b,), math.log(self.ratio[0]), math.log(self.ratio[1]), generator, images))
        # Box size as a fraction of the image side, in the image's own aspect.
        fw = torch.sqrt(area * aspect).clamp(max=1.0)
        fh = torch.sqrt(area / aspect).clamp(max=1.0)
        cx = (uniform((b,), -1, 1, generator, images)) * (1 - fw)
        cy = (uniform((b,), -1, 1, generator, images)) * (1 - fh)
        theta = torch.zeros(b, 2, 3, device=images.device, dtype=images.dtype)
        theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = fw, cx, fh, cy
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class ColorJitter:
    """With probability ``p``: brightness, contrast, saturation, hue (in that order).

    Adapted to standardised images (mean 0, std 1 rather than [0, 1]):
    brightness adds an offset in [-brightness, brightness] (std units);
    contrast scales about the image mean by [1-c, 1+c]; saturation blends
    with the grayscale image by [1-s, 1+s]; hue rotates the chroma about the
    gray axis by an angle in [-hue, hue] turns. No clamping."""

    def __init__(self, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4,
                 hue: float = 0.1, p: float = 0.8):
        self.brightness, self.contrast, self.saturation, self.hue, self.p = brightness, contrast, saturation, hue, p

    @staticmethod
    def hue_matrices(angle: torch.Tensor) -> torch.Tensor:
        """(B, 3, 3) rotations about the (1, 1, 1) axis by ``angle`` radians."""
        cos, sin = torch.cos(angle), torch.sin(angle)
        k = 1.0 / 3.0
        s3 = math.sqrt(k)
        a = cos + (1 - cos) * k
        b_ = (1 - cos) * k - s3 * sin
        c = (1 - cos) * k + s3 * sin
        return torch.stack([torch.stack([a, b_, c], -1), torch.stack([c, a, b_], -1),
                            torch.stack([b_, c, a], -1)], -2)

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = images.shape[0]
        one = (n, 1, 1, 1)
        out = images + uniform(one, -self.brightness, self.brightness, generator, images)
        mean = grayscale(out).mean(dim=(1, 2, 3), keepdim=True)
        out = mean + uniform(one, 1 - self.contrast, 1 + self.contrast, generator, images) * (out - mean)
        gray = grayscale(out)
        out = gray + uniform(one, 1 - self.saturation, 1 + self.saturation, generator, images) * (out - gray)
        rot = self.hue_matrices(uniform((n,), -self.hue, self.hue, generator, images) * 2 * math.pi)
        out = torch.einsum("bij,bjhw->bihw", rot, out)
        return torch.where(bernoulli(n, self.p, generator, images), out, images)


class RandomGrayscale:
    def __init__(self, p: float = 0.2):
        self.p = p

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        gray = grayscale(images).expand_as(images)
        return torch.where(bernoulli(images.shape[0], self.p, generator, images), gray, images)


class GaussianBlur:
    """With probability ``p``, a separable Gaussian blur with sigma (pixels) drawn
    per sample from ``sigma``; reflect padding."""

    def __init__(self, sigma: tuple[float, float] = (0.1, 2.0), p: float = 0.5):
        self.sigma, self.p = sigma, p
        self.radius = int(math.ceil(3 * sigma[1]))

    def kernels(self, sigma: torch.Tensor) -> torch.Tensor:
        x = torch.arange(-self.radius, self.radius + 1, device=sigma.device, dtype=sigma.dtype)
        k = torch.exp(-0.5 * (x[None, :] / sigma[:, None]) ** 2)
        return k / k.sum(dim=1, keepdim=True)

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        b, c, h, w = images.shape
        k = self.kernels(uniform((b,), *self.sigma, generator, images)).repeat_interleave(c, dim=0)
        x = images.reshape(1, b * c, h, w)
        r = self.radius
        x = F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k[:, None, :, None], groups=b * c)
        x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k[:, None, None, :], groups=b * c)
        return torch.where(bernoulli(b, self.p, generator, images), x.reshape(b, c, h, w), images)


class HorizontalFlip:
    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torch.where(bernoulli(images.shape[0], self.p, generator, images), images.flip(-1), images)


class Compose:
    def __init__(self, ops: list):
        self.ops = ops

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for op in self.ops:
            images = op(images, generator)
        return images


class MocoV2Default(Compose):
    """MoCo v2's augmentation recipe, in its order."""

    def __init__(self):
        super().__init__([RandomResizedCrop(), ColorJitter(), RandomGrayscale(), GaussianBlur(), HorizontalFlip()])


AUGMENTATIONS = {"sensor_aware": SensorAware, "mocov2": MocoV2Default, "none": Identity}


def build_augmentation(name: str):
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; known: {sorted(AUGMENTATIONS)}")
    return AUGMENTATIONS[name]()
