"""TimeVQVDM-style pieces: the low/high-frequency band split through the STFT, and a vector quantizer.

    bands = BandSplit(channels=6, lf_bins=2)       # LF: STFT bins 0..1 (0 and 1.67 Hz at 50 Hz); HF: the rest
    lf, hf = bands.split(x)                          # each (B, C, T) in x's units; lf + hf == x
    vq = VectorQuantizer(VQConfig(in_channels=64))   # project 64 -> d = 4, K = 512 codes, project back
    z_q, codes, loss = vq(z)                         # straight-through: gradients reach z as if z_q = z

Band split (TimeVQVAE / TimeVQVDM): take the window's STFT (the STFT model's ``Framing``
matrices), zero the other band's bins, invert. Both maps are linear and the inverse
is the analysis matrix's pseudo-inverse, so istft(S_lf) + istft(S_hf) = istft(S) = x
exactly up to float32 rounding -- the split loses nothing.

Vector quantizer (van den Oord et al. 2017): each position's vector (after a 1x1
projection to ``dim``) is replaced by its nearest of ``codes`` codebook rows
(squared Euclidean distance); the straight-through estimator passes the gradient to
the encoder unchanged; the loss is ||sg(z) - q||^2 (moves the codebook) + ``commitment``
||z - sg(q)||^2 (keeps the encoder near its codes). d = 4 and K = 512 are the defaults:
the thesis found low-dimensional tokens with a large codebook necessary for the
diffusion prior to learn. ``quantize`` (tokens -> nearest codebook vectors) writes the
lookup as argmin + one-hot matmul, which every export backend takes; ``restart`` moves
dead codes onto tokens of the current batch (the per-band VQ-VAEs, ``vqvae.py``, use it).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from imuedge.train.diffusion.framing import Framing, FramingConfig


class BandSplit(nn.Module):
    """Window (B, C, T) -> (low band, high band) through the STFT: bins [0, lf_bins) are the low band."""

    def __init__(self, channels: int = 6, lf_bins: int = 2, framing: FramingConfig | None = None):
        super().__init__()
        self.framing = Framing(channels, framing)
        bins = self.framing.config.bins
        if not 1 <= lf_bins < bins:
            raise ValueError(f"lf_bins must be 1..{bins - 1} (the STFT has {bins} bins), got {lf_bins}")
        mask = (torch.arange(bins) < lf_bins).float()[None, :, None]  # (1, bins, 1): broadcast over planes, frames
        self.register_buffer("low", mask)

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spec = self.framing.stft(x)
        return self.framing.istft(spec * self.low), self.framing.istft(spec * (1 - self.low))

    @staticmethod
    def merge(lf: torch.Tensor, hf: torch.Tensor) -> torch.Tensor:
        return lf + hf


@dataclass
class VQConfig:
    dim: int = 4  # token dimension d
    codes: int = 512  # codebook size K
    in_channels: int | None = None  # projection layers from / to this width (None: tokens are the input)
    commitment: float = 0.25


class VectorQuantizer(nn.Module):
    def __init__(self, config: VQConfig | None = None):
        super().__init__()
        cfg = self.config = config or VQConfig()
        self.codebook = nn.Parameter(torch.empty(cfg.codes, cfg.dim).uniform_(-1 / cfg.codes, 1 / cfg.codes))
        c = cfg.in_channels
        self.project_in = nn.Conv1d(c, cfg.dim, 1) if c else nn.Identity()
        self.project_out = nn.Conv1d(cfg.dim, c, 1) if c else nn.Identity()

    def lookup(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, dim, L) -> (B, L) indices of the nearest codebook rows."""
        flat = tokens.transpose(1, 2).reshape(-1, self.config.dim)
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t() + self.codebook.pow(2).sum(1)[None]
        return dist.argmin(1).reshape(tokens.shape[0], tokens.shape[2])

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, L) indices -> (B, dim, L) codebook vectors."""
        return self.codebook[codes].transpose(1, 2)

    def quantize(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, dim, L) tokens -> their nearest codebook vectors (B, dim, L), as one-hot @ codebook."""
        k = self.config.codes
        onehot = (self.lookup(tokens)[..., None] == torch.arange(k, device=tokens.device)).to(tokens.dtype)
        return (onehot @ self.codebook).transpose(1, 2)

    @torch.no_grad()
    def restart(self, dead: torch.Tensor, tokens: torch.Tensor, generator: torch.Generator | None = None) -> int:
        """Move the codes flagged in ``dead`` (K,) bool onto tokens (B, dim, L) drawn at random; how many moved."""
        flat = tokens.transpose(1, 2).reshape(-1, self.config.dim)
        n = int(dead.sum())
        if n:
            self.codebook[dead] = flat[torch.randint(0, len(flat), (n,), generator=generator)].to(self.codebook)
        return n

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z (B, in_channels or dim, L) -> (quantized z, straight-through; codes (B, L); codebook + commitment loss)."""
        tokens = self.project_in(z)
        codes = self.lookup(tokens.detach())
        q = self.embed(codes)
        loss = F.mse_loss(q, tokens.detach()) + self.config.commitment * F.mse_loss(tokens, q.detach())
        q_st = tokens + (q - tokens).detach()
        return self.project_out(q_st), codes, loss
