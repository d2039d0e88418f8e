"""The denoiser: a small 2-D UNet over the STFT planes, conditioned on timestep and class.

    (B, 2C, bins, frames) noisy planes, t (B,), class id (B,) -> (B, 2C, bins, frames) v-prediction

IMUDiffusion's UNet has 32 base channels; ours too, with widths (32, 64, 64) over
three resolutions (16x32, 8x16, 4x8), one residual block per level and a
self-attention block at the coarsest one. The class is looked up as a one-hot
row times a matrix rather than an ``nn.Embedding`` gather, which every export
backend takes; id ``num_classes`` is the "no class" of classifier-free guidance.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class UNetConfig:
    in_channels: int = 12  # 2 planes (real, imaginary) per sensor channel
    num_classes: int = 6
    base: int = 32
    mults: tuple[int, ...] = (1, 2, 2)
    groups: int = 8  # GroupNorm groups
    attention: bool = True  # self-attention at the coarsest resolution


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of (B,) timesteps (float) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(e)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class Attention(nn.Module):
    def __init__(self, ch: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.out = nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)
        a = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(c), dim=-1)  # (b, hw, hw)
        return x + self.out((v @ a.transpose(1, 2)).reshape(b, c, h, w))


class UNet(nn.Module):
    def __init__(self, config: UNetConfig | None = None):
        super().__init__()
        cfg = self.config = config or UNetConfig()
        widths = [cfg.base * m for m in cfg.mults]
        emb = 4 * cfg.base
        self.time_mlp = nn.Sequential(nn.Linear(cfg.base, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.class_table = nn.Parameter(torch.randn(cfg.num_classes + 1, emb) * 0.02)  # last row: no class
        self.stem = nn.Conv2d(cfg.in_channels, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        ch = widths[0]
        skips = []
        for i, w in enumerate(widths):
            self.down.append(ResBlock(ch, w, emb, cfg.groups))
            ch = w
            skips.append(ch)
            last = i == len(widths) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(ch, ch, 3, stride=2, padding=1))
        self.mid1 = ResBlock(ch, ch, emb, cfg.groups)
        self.attn = Attention(ch, cfg.groups) if cfg.attention else nn.Identity()
        self.mid2 = ResBlock(ch, ch, emb, cfg.groups)
        self.up = nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            self.up.append(ResBlock(ch + skips[i], w, emb, cfg.groups))
            ch = w
        self.out_norm = nn.GroupNorm(cfg.groups, ch)
        self.out = nn.Conv2d(ch, cfg.in_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def to_config(self) -> dict:
        return {**asdict(self.config), "mults": list(self.config.mults)}

    def embed(self, t: torch.Tensor, class_id: torch.Tensor) -> torch.Tensor:
        return self.embed_time(t) + self.embed_class(class_id)

    def embed_time(self, t: torch.Tensor) -> torch.Tensor:
        return self.time_mlp(timestep_embedding(t, self.config.base))

    def embed_class(self, class_id: torch.Tensor) -> torch.Tensor:
        onehot = (class_id.reshape(-1, 1) == torch.arange(self.config.num_classes + 1, device=class_id.device)
                  .reshape(1, -1)).to(self.class_table.dtype)
        return onehot @ self.class_table

    def forward(self, x: torch.Tensor, t: torch.Tensor, class_id: torch.Tensor) -> torch.Tensor:
        return self.denoise(x, self.embed(t, class_id))

    def denoise(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """The network given the (timestep + class) embedding ``e`` (B, 4 * base)."""
        h = self.stem(x)
        skips = []
        for block, down in zip(self.down, self.downsample):
            h = block(h, e)
            skips.append(h)
            h = down(h)
        h = self.mid2(self.attn(self.mid1(h, e)), e)
        for block in self.up:
            s = skips.pop()
            if h.shape[-2:] != s.shape[-2:]:
                h = F.interpolate(h, size=s.shape[-2:], mode="nearest")
            h = block(torch.cat([h, s], 1), e)
        return self.out(F.silu(self.out_norm(h)))
