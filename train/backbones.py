"""Backbones: image ResNets for spectrogram images, a 1-D CNN for raw windows.

Written here (no torchvision) with ops every export backend handles:
conv, BatchNorm (folded at export), ReLU, max-pool in the stem, residual
adds and a global mean over H, W. Every backbone exposes ``out_dim`` and
``to_config()`` (JSON-able kwargs that ``build_backbone`` takes back).

* ``resnet18``: the standard ResNet-18 layout (7x7/2 stem, max-pool, four
  stages of two basic blocks, widths 64-128-256-512), 11.2 M parameters,
  512-d embedding. The IMG2IMU paper's backbone.
* ``edge``: the same block structure, narrower (16-32-64-128) with a 3x3/2
  stem, ~0.7 M parameters, 128-d embedding; the project default (the
  shipped checkpoint must stay < 5 MB and run fast on phone CPUs).
* ``cnn1d``: a small 1-D CNN on raw windows ``(B, C, T)`` with the z-score
  inside the graph, for the supervised baseline.
"""
from __future__ import annotations

import torch
from torch import nn


def conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(out_ch))


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual; a 1x1 projection when shape changes."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.conv1 = conv_bn(in_ch, out_ch, 3, stride)
        self.conv2 = conv_bn(out_ch, out_ch, 3)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = conv_bn(in_ch, out_ch, 1, stride) if (stride != 1 or in_ch != out_ch) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.relu(self.conv1(x)))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """3-channel image ``(N, 3, H, W)`` -> embedding ``(N, widths[-1])``."""

    def __init__(self, widths: tuple[int, ...] = (64, 128, 256, 512), depths: tuple[int, ...] = (2, 2, 2, 2),
                 stem_width: int | None = None, stem_kernel: int = 7, stem_pool: bool = True,
                 in_channels: int = 3, zero_init_residual: bool = False):
        super().__init__()
        if len(widths) != len(depths):
            raise ValueError(f"widths {widths} and depths {depths} differ in length")
        self.kwargs = dict(widths=list(widths), depths=list(depths), stem_width=stem_width,
                           stem_kernel=stem_kernel, stem_pool=stem_pool, in_channels=in_channels,
                           zero_init_residual=zero_init_residual)
        stem_width = stem_width or widths[0]
        self.stem = nn.Sequential(conv_bn(in_channels, stem_width, stem_kernel, 2), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1) if stem_pool else nn.Identity())
        self.stages = nn.Sequential(*self.make_stages(stem_width, widths, depths))
        self.out_dim = widths[-1]
        self.init_weights(zero_init_residual)

    @staticmethod
    def make_stages(in_ch: int, widths, depths) -> list[nn.Sequential]:
        stages = []
        for i, (width, depth) in enumerate(zip(widths, depths)):
            blocks = [BasicBlock(in_ch, width, stride=1 if i == 0 else 2)]
            blocks += [BasicBlock(width, width) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            in_ch = width
        return stages

    def init_weights(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.conv2[1].weight)

    def to_config(self) -> dict:
        return dict(self.kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # keepdim: ExecuTorch's XNNPACK partitioner takes a 4-D mean over (H, W) only with keepdim (global
        # average pooling); without it the mean ran as a portable kernel between two delegates (~17 us).
        return self.stages(self.stem(x)).mean(dim=(2, 3), keepdim=True).flatten(1)


def resnet18(**kw) -> ResNet:
    return ResNet(**{"widths": (64, 128, 256, 512), "depths": (2, 2, 2, 2), "stem_kernel": 7,
                     "stem_pool": True, **kw})


def edge(**kw) -> ResNet:
    return ResNet(**{"widths": (16, 32, 64, 128), "depths": (2, 2, 2, 2), "stem_kernel": 3,
                     "stem_pool": True, **kw})


class CNN1D(nn.Module):
    """Raw window ``(B, C, T)`` -> embedding ``(B, widths[-1])``.

    The per-channel z-score (``mean``/``std`` buffers, set from training
    data with ``fit_normalization``) runs in the graph, so the runtime feeds
    raw windows in physical units like every other imuedge model.
    """

    def __init__(self, in_channels: int = 6, widths: tuple[int, ...] = (32, 64, 128), kernel: int = 5):
        super().__init__()
        self.kwargs = dict(in_channels=in_channels, widths=list(widths), kernel=kernel)
        self.register_buffer("mean", torch.zeros(in_channels, 1))
        self.register_buffer("std", torch.ones(in_channels, 1))
        layers, ch = [], in_channels
        for i, width in enumerate(widths):
            layers += [nn.Conv1d(ch, width, kernel, 1 if i == 0 else 2, kernel // 2, bias=False),
                       nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
            ch = width
        self.features = nn.Sequential(*layers)
        self.out_dim = widths[-1]

    @torch.no_grad()
    def fit_normalization(self, x: torch.Tensor, eps: float = 1e-6) -> None:
        """Set the z-score from training windows ``(N, C, T)``."""
        self.mean.copy_(x.mean(dim=(0, 2))[:, None])
        self.std.copy_(x.std(dim=(0, 2))[:, None].clamp_min(eps))

    def to_config(self) -> dict:
        return dict(self.kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features((x - self.mean) / self.std).mean(dim=-1)


BACKBONES = {"resnet18": resnet18, "edge": edge}  # image backbones, (N, 3, H, W) in
RAW_BACKBONES = {"cnn1d": CNN1D}  # raw-window backbones, (B, C, T) in


def build_backbone(name: str, **kw) -> nn.Module:
    """A backbone by registry name; ``kw`` overrides its defaults (JSON-able)."""
    registry = {**BACKBONES, **RAW_BACKBONES}
    if name not in registry:
        raise ValueError(f"unknown backbone {name!r}; known: {sorted(registry)}")
    return registry[name](**kw)
