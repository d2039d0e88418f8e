"""A window's short-time Fourier transform, and its inverse, as two fixed matrices.

The diffusion model works on each channel's STFT: real and imaginary parts as two
planes of (frequency bins x frames). Both directions are linear maps of the
128-sample window, so they are stored as matrices (``analysis`` (T, 2*F*K) and its
Moore-Penrose pseudo-inverse ``synthesis``) and applied with one matmul: that exports
to every backend (``torch.stft`` / ``istft`` do not) and the round trip is exact up to
float32 rounding (about 1e-6 of the signal's scale; the test asks for 1e-4).

Framing for 128-sample windows at 50 Hz (IMUDiffusion used a Hann window of 22 with
overlap 20 on 160 samples, 81 frames of 12 bins): a periodic Hann window of 30 samples
(0.6 s; 16 bins, 1.67 Hz apart, 0..25 Hz) every 4 samples (80 ms), 32 frames whose
starts are ``4k - 13`` (the window is zero outside its 128 samples). That gives a
16 x 32 grid, which halves twice cleanly in the UNet (16x32 -> 8x16 -> 4x8), covers
every sample with non-zero window weight (so the map is injective and its
pseudo-inverse a true inverse on real STFTs), and is 8x redundant rather than the
12x of a 22/2 framing -- a third less UNet compute on a CPU. For a generated plane
pair that is not the STFT of any signal, ``synthesis`` gives the least-squares
signal (what ``istft``'s overlap-add with window-squared normalisation computes too).

Normalisation lives here as well: each channel is z-scored in time (training-set
mean and std), then each (channel, real/imag, bin) plane is divided by its training
standard deviation, so every plane the UNet sees has unit scale. All of it is folded
into the two matrices' inputs and outputs, so ``encode`` / ``decode`` map physical
units (m/s^2, rad/s) to unit-scale planes and back.

``window_mean=True`` (the teacher's default since issue #17's quiet-window finding)
takes each window's per-channel mean out before the STFT and carries it, z-scored
across training windows, in the imaginary row of the DC bin: a real signal's DC bin has
no imaginary part, so that row is otherwise always zero (the synthesis ignores it). Why:
with the training mean removed instead, a window's DC and lowest bins hold its gravity
offset, which differs by metres per second squared between postures, so those planes'
unit scale is ~10x the other bins' and a small error there is a large slow wobble. A
generated sitting window then moved ~10x more than a real one (0.6-0.8 against 0.04-0.08
m/s^2 of accelerometer std), the largest tell of the teacher's synthetic windows. With
the mean carried apart, the DC and lowest bins hold only the in-window drift. ``decode``
reads the mean as that row's average over frames and gives the remainder zero mean.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, astuple, dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class FramingConfig:
    samples: int = 128  # window length (the window contract's)
    n_fft: int = 30  # Hann window length; bins = n_fft // 2 + 1
    hop: int = 4  # samples between frame starts
    frames: int = 32  # frames per window
    first: int = -13  # start of frame 0 (samples; negative = starts before the window, zeros there)
    window_mean: bool = False  # carry each window's channel means in the DC bin's imaginary row (module doc)

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1


def analysis_matrix(cfg: FramingConfig) -> np.ndarray:
    """(samples, 2 * bins * frames) float64: window -> [real planes; imaginary planes], each (bins, frames)."""
    n = np.arange(cfg.n_fft)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / cfg.n_fft)  # periodic Hann
    f = np.arange(cfg.bins)[:, None]
    cos = np.cos(2 * np.pi * f * n[None] / cfg.n_fft) * hann  # (bins, n_fft)
    sin = -np.sin(2 * np.pi * f * n[None] / cfg.n_fft) * hann
    a = np.zeros((cfg.samples, 2, cfg.bins, cfg.frames))
    for k in range(cfg.frames):
        start = cfg.first + k * cfg.hop
        for j in range(cfg.n_fft):
            s = start + j
            if 0 <= s < cfg.samples:
                a[s, 0, :, k] += cos[:, j]
                a[s, 1, :, k] += sin[:, j]
    return a.reshape(cfg.samples, -1)


@functools.lru_cache(maxsize=8)
def framing_matrices(config: tuple) -> tuple[np.ndarray, np.ndarray, int]:
    """(analysis, its pseudo-inverse, its rank) of ``FramingConfig(*config)``, computed once per process
    (two SVDs: seconds on a loaded CPU, and every band split / STFT model / reload builds a Framing)."""
    a = analysis_matrix(FramingConfig(*config))
    return a, np.linalg.pinv(a), int(np.linalg.matrix_rank(a))


class Framing(nn.Module):
    """Physical window (B, C, T) <-> unit-scale STFT planes (B, 2C, bins, frames), channel c's real part at
    plane 2c and its imaginary part at 2c + 1."""

    def __init__(self, channels: int = 6, config: FramingConfig | None = None):
        super().__init__()
        self.config = config or FramingConfig()
        self.channels = channels
        a, synthesis, rank = framing_matrices(astuple(self.config))
        if rank < self.config.samples:
            raise ValueError(f"STFT framing {asdict(self.config)} loses information (rank {rank} < "
                             f"{self.config.samples}): some sample has no frame")
        self.register_buffer("analysis", torch.from_numpy(a).float())
        self.register_buffer("synthesis", torch.from_numpy(synthesis).float())
        self.register_buffer("mean", torch.zeros(channels, 1))  # time-domain z-score
        self.register_buffer("std", torch.ones(channels, 1))
        self.register_buffer("scale", torch.ones(2 * channels, self.config.bins, 1))  # per-plane, per-bin
        if self.config.window_mean:  # (not a buffer of the other framings: their checkpoints load unchanged)
            self.register_buffer("mean_scale", torch.ones(channels, 1))  # std of window means across windows
            dc_imag = torch.zeros(2 * channels, self.config.bins, 1)
            dc_imag[1::2, 0] = 1.0
            self.register_buffer("dc_imag", dc_imag, persistent=False)

    @property
    def plane_shape(self) -> tuple[int, int, int]:
        return 2 * self.channels, self.config.bins, self.config.frames

    def stft(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, 2C, bins, frames), no normalisation."""
        b, c, _ = x.shape
        return (x @ self.analysis).reshape(b, 2 * c, self.config.bins, self.config.frames)

    def istft(self, z: torch.Tensor) -> torch.Tensor:
        """(B, 2C, bins, frames) -> (B, C, T), the least-squares inverse of ``stft``."""
        b = z.shape[0]
        return z.reshape(b, self.channels, -1) @ self.synthesis

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Physical window -> unit-scale planes."""
        if not self.config.window_mean:
            return self.stft((x - self.mean) / self.std) / self.scale
        m = x.mean(dim=-1, keepdim=True)  # (B, C, 1)
        carried = ((m - self.mean) / self.mean_scale).repeat_interleave(2, dim=1)[..., None]  # (B, 2C, 1, 1)
        return self.stft((x - m) / self.std) / self.scale + self.dc_imag * carried

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Unit-scale planes -> physical window (m/s^2, rad/s)."""
        if not self.config.window_mean:
            return self.istft(z * self.scale) * self.std + self.mean
        m = z[:, 1::2, 0].mean(dim=-1, keepdim=True)  # (B, C, 1): the imaginary DC rows, z-scored means
        r = self.istft(z * self.scale)  # the synthesis has exact zeros for those rows: they do not reach r
        return (r - r.mean(dim=-1, keepdim=True)) * self.std + m * self.mean_scale + self.mean

    @torch.no_grad()
    def fit(self, x: torch.Tensor, eps: float = 1e-4) -> None:
        """Set the normalisation from training windows (N, C, T) in physical units."""
        x = x.double()
        if self.config.window_mean:
            m = x.mean(dim=2, keepdim=True)  # (N, C, 1)
            self.mean.copy_(m.mean(dim=0).float())
            self.mean_scale.copy_(m.std(dim=0).clamp_min(1e-6).float())
            x = x - m
        else:
            self.mean.copy_(x.mean(dim=(0, 2))[:, None].float())
        self.std.copy_(x.std(dim=(0, 2))[:, None].clamp_min(1e-6).float())
        centre = 0.0 if self.config.window_mean else self.mean.double()
        z = self.stft(((x - centre) / self.std.double()).float()).double()
        s = z.pow(2).mean(dim=(0, 3)).sqrt()  # RMS per (plane, bin)
        self.scale.copy_(torch.where(s > eps, s, torch.ones_like(s))[..., None].float())  # imag DC / Nyquist: 0
