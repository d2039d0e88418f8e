"""MoCo v2: momentum contrast with an MLP projection head.

A query encoder (image backbone + 2-layer MLP head) is trained with
InfoNCE against keys from a key encoder, a momentum copy of it:
``key <- m * key + (1 - m) * query`` over parameters (buffers such as BN
running statistics are the key encoder's own). Negatives are a queue of
the last ``queue_size`` normalised keys.

In training mode ``forward`` also does the momentum update (before
computing keys) and enqueues the keys, as MoCo's reference does; in eval
mode it only computes the loss. Under DDP (``torch.distributed``
initialised) the keys of all ranks are gathered before enqueueing. MoCo's
shuffled BN (a multi-GPU trick against BN leaking batch identity) is not
implemented; use per-rank batches of a reasonable size or SyncBN.

Defaults follow the IMG2IMU paper (dim 64, K 4096, m 0.999, T 0.2).
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .backbones import build_backbone


@dataclass
class MoCoConfig:
    backbone: str = "edge"
    backbone_kwargs: dict = field(default_factory=dict)
    dim: int = 64  # projection (feature) size
    hidden_dim: int | None = None  # MLP hidden size; None -> backbone.out_dim
    queue_size: int = 4096
    momentum: float = 0.999
    temperature: float = 0.2

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MoCoConfig":
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown MoCoConfig field(s) {sorted(unknown)}")
        return cls(**d)


class ProjectionHead(nn.Sequential):
    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int):
        super().__init__(nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim))


@torch.no_grad()
def gather_from_all_ranks(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every DDP rank (rank order); ``x`` itself when not distributed.
    Every rank must pass the same shape."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


class MoCo(nn.Module):
    """``forward(im_q, im_k)`` on two views ``(N, 3, H, W)`` -> ``(loss, logits (N, 1+K), labels (N,))``."""

    def __init__(self, config: MoCoConfig | None = None):
        super().__init__()
        self.config = config or MoCoConfig()
        cfg = self.config
        self.backbone = build_backbone(cfg.backbone, **cfg.backbone_kwargs)
        self.head = ProjectionHead(self.backbone.out_dim, cfg.hidden_dim or self.backbone.out_dim, cfg.dim)
        self.key_backbone = copy.deepcopy(self.backbone)
        self.key_head = copy.deepcopy(self.head)
        for p in self.key_parameters():
            p.requires_grad_(False)
        self.register_buffer("queue", F.normalize(torch.randn(cfg.queue_size, cfg.dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def to_config(self) -> dict:
        return self.config.to_dict()

    @classmethod
    def from_config(cls, d: dict) -> "MoCo":
        return cls(MoCoConfig.from_dict(d))

    def query_parameters(self):
        return [*self.backbone.parameters(), *self.head.parameters()]

    def key_parameters(self):
        return [*self.key_backbone.parameters(), *self.key_head.parameters()]

    def encode_query(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.backbone(images)), dim=1)

    @torch.no_grad()
    def encode_key(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.key_head(self.key_backbone(images)), dim=1)

    @torch.no_grad()
    def momentum_update(self) -> None:
        m = self.config.momentum
        for q, k in zip(self.query_parameters(), self.key_parameters()):
            k.mul_(m).add_(q.detach(), alpha=1.0 - m)

    @torch.no_grad()
    def dequeue_and_enqueue(self, keys: torch.Tensor) -> None:
        """Write ``keys`` (all ranks' under DDP) at the pointer, wrapping around;
        if more keys than the queue holds, the last ``queue_size`` are kept."""
        keys = gather_from_all_ranks(keys)[-self.config.queue_size:]
        size = self.config.queue_size
        index = (self.queue_ptr + torch.arange(keys.shape[0], device=keys.device)) % size
        self.queue[index] = keys.to(self.queue.dtype)
        self.queue_ptr.copy_((self.queue_ptr + keys.shape[0]) % size)

    def contrastive_logits(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        positive = (q * k).sum(dim=1, keepdim=True)
        negative = q @ self.queue.clone().detach().T
        return torch.cat([positive, negative], dim=1) / self.config.temperature

    def forward(self, im_q: torch.Tensor, im_k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q = self.encode_query(im_q)
        if self.training:
            self.momentum_update()
        k = self.encode_key(im_k)
        logits = self.contrastive_logits(q, k)
        labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        loss = F.cross_entropy(logits, labels)
        if self.training:
            self.dequeue_and_enqueue(k)
        return loss, logits, labels

    def encoder_state_dict(self) -> dict:
        """The query backbone's weights, to load into ``IMUEncoder.backbone``."""
        return {k: v.detach().clone() for k, v in self.backbone.state_dict().items()}
