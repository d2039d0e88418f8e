"""The latent denoiser: a small transformer over the VAE's latent sequence, conditioned on timestep and class.

    (B, latent_channels, L) noisy latent, t (B,), class id (B,) -> (B, latent_channels, L) v-prediction

Tokens are the L latent positions, projected to ``width`` and given a fixed sinusoidal
positional encoding; the (timestep + class) embedding is added to every token before
each block (pre-norm attention + MLP). Same interface as the STFT model's UNet
(``embed_time``, ``embed_class``, ``denoise``), so the unrolled sampler and the
distillation rounds take either. Attention is written as matmul + softmax (no fused
kernel) and the class lookup as one-hot times a matrix, which every export backend takes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from imuedge.train.diffusion.unet import timestep_embedding


@dataclass
class TransformerConfig:
    in_channels: int = 4  # latent channels
    length: int = 32  # latent positions
    num_classes: int = 6
    width: int = 64
    depth: int = 3
    heads: int = 4
    cond_channels: int = 0  # channels of a clean conditioning sequence read beside z (the VQ cascade's LF latent)


def positional_encoding(length: int, dim: int) -> torch.Tensor:
    """(length, dim) sinusoidal positions."""
    return timestep_embedding(torch.arange(length, dtype=torch.float32), dim)


class Block(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = h + e[:, None, :]
        h = h + self.attend(self.norm1(h))
        return h + self.mlp(self.norm2(h))

    def attend(self, h: torch.Tensor) -> torch.Tensor:
        b, n, w = h.shape
        d = w // self.heads
        q, k, v = self.qkv(h).reshape(b, n, 3, self.heads, d).permute(2, 0, 3, 1, 4)  # 3 x (b, heads, n, d)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, n, w))


class LatentTransformer(nn.Module):
    def __init__(self, config: TransformerConfig | None = None):
        super().__init__()
        cfg = self.config = config or TransformerConfig()
        if cfg.width % cfg.heads or cfg.width % 2:
            raise ValueError(f"width {cfg.width} must be even and divisible by heads {cfg.heads}")
        self.time_mlp = nn.Sequential(nn.Linear(cfg.width, cfg.width), nn.SiLU(), nn.Linear(cfg.width, cfg.width))
        self.class_table = nn.Parameter(torch.randn(cfg.num_classes + 1, cfg.width) * 0.02)  # last row: no class
        self.inp = nn.Linear(cfg.in_channels + cfg.cond_channels, cfg.width)
        self.register_buffer("position", positional_encoding(cfg.length, cfg.width))
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.heads) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.width)
        self.out = nn.Linear(cfg.width, cfg.in_channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def embed_time(self, t: torch.Tensor) -> torch.Tensor:
        return self.time_mlp(timestep_embedding(t, self.config.width))

    def embed_class(self, class_id: torch.Tensor) -> torch.Tensor:
        onehot = (class_id.reshape(-1, 1) == torch.arange(self.config.num_classes + 1, device=class_id.device)
                  .reshape(1, -1)).to(self.class_table.dtype)
        return onehot @ self.class_table

    def forward(self, z: torch.Tensor, t: torch.Tensor, class_id: torch.Tensor,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.denoise(z, self.embed_time(t) + self.embed_class(class_id), cond)

    def denoise(self, z: torch.Tensor, e: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """The network given the (timestep + class) embedding ``e`` (B, width) and, when ``cond_channels``,
        the conditioning sequence ``cond`` (B, cond_channels, L) read beside z."""
        if (cond is None) != (self.config.cond_channels == 0):
            raise ValueError(f"this denoiser reads {self.config.cond_channels} conditioning channels, "
                             f"got {'none' if cond is None else cond.shape[1]}")
        x = z if cond is None else torch.cat([z, cond], 1)
        h = self.inp(x.transpose(1, 2)) + self.position
        for block in self.blocks:
            h = block(h, F.silu(e))
        return self.out(self.norm(h)).transpose(1, 2)
