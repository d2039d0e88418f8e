"""MoCo v2: momentum contrast with an MLP projection head.

A query encoder (image backbone + 2-layer MLP head) is trained with
InfoNCE against keys from a key encoder, a momentum copy of it:
``key <- m * key + (1 - m) * query`` over parameters (buffers such as BN
running statistics are the key encoder's own). Negatives are a queue of
the last ``queue_size`` normalised keys.

In training mode ``forward`` also does the momentum update (before
computing keys) and enqueues the keys, as MoCo's reference does; in eval
mode it only computes the loss. Under DDP (``torch.distributed``
initialised) the keys of all ranks are gathered before enqueueing.

``bn_splits > 1`` is MoCo's shuffled BN on one process: BatchNorm in
training takes its statistics over ``bn_splits`` equal chunks of the batch
(as that many GPUs would, each on its own share), and the query and the key
encoder each see the batch in its own random order, so a query and its
positive key are normalised with different company. Without it, a query and
its key share the batch statistics that no queued negative shares, a cue the
encoder can use instead of the image (the MoCo paper's "cheating"); batches
grouped by recording (``recordings_per_batch``) make that cue stronger.

Defaults follow the IMG2IMU paper (dim 64, K 4096, m 0.999, T 0.2).

``far_negatives_s > 0`` (for IMU windows, where each image knows its recording and start time,
``where`` = ``(N, 2)`` of recording index and start in seconds): the other keys of the batch join
the queue as negatives, and any key -- queued or in the batch -- from the query's own recording
starting less than ``far_negatives_s`` from it is left out (most likely the same activity bout, so
not a true negative). Grouping a batch's windows by recording then makes the in-batch negatives
hard ones: same subject and placement, another moment, mostly another activity (as in Temporal
Neighbourhood Coding, Tonekaboni et al. 2021). Images without a ``where`` (procedural, folder)
are near no other key.
"""
from __future__ import annotations

import copy
import math
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
    far_negatives_s: float = 0.0  # > 0: in-batch negatives; same-recording keys closer than this are masked
    bn_splits: int = 1  # > 1: shuffled BN, batch statistics over this many chunks of a shuffled batch

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MoCoConfig":
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown MoCoConfig field(s) {sorted(unknown)}")
        return cls(**d)


class SplitBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d that in training normalises each of ``splits`` equal, contiguous chunks of the
    batch by the chunk's own statistics; running statistics move by the mean over chunks. In eval
    (and its state dict) it is a plain BatchNorm2d."""

    def __init__(self, num_features: int, splits: int, **kw):
        super().__init__(num_features, **kw)
        self.splits = splits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.splits
        if not self.training or s == 1:
            return super().forward(x)
        n, c, h, w = x.shape
        if n % s:
            raise ValueError(f"a batch of {n} images does not split into {s} BatchNorm chunks; "
                             f"make the batch size a multiple of bn_splits")
        chunks = x.view(s, n // s, c, h, w).transpose(0, 1).reshape(n // s, s * c, h, w)  # chunk i = channels i*c..
        mean, var = self.running_mean.repeat(s), self.running_var.repeat(s)
        y = F.batch_norm(chunks, mean, var, self.weight.repeat(s), self.bias.repeat(s), True, self.momentum, self.eps)
        with torch.no_grad():
            self.running_mean.copy_(mean.view(s, c).mean(0))
            self.running_var.copy_(var.view(s, c).mean(0))
            self.num_batches_tracked.add_(1)
        return y.view(n // s, s, c, h, w).transpose(0, 1).reshape(n, c, h, w)


def split_batchnorm(module: nn.Module, splits: int) -> nn.Module:
    """Swap every BatchNorm2d in ``module`` for a ``SplitBatchNorm2d`` with the same state (in place)."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            split = SplitBatchNorm2d(child.num_features, splits, eps=child.eps, momentum=child.momentum)
            split.load_state_dict(child.state_dict())
            setattr(module, name, split)
        else:
            split_batchnorm(child, splits)
    return module


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
        if cfg.bn_splits < 1:
            raise ValueError(f"bn_splits must be >= 1, got {cfg.bn_splits}")
        self.backbone = build_backbone(cfg.backbone, **cfg.backbone_kwargs)
        if cfg.bn_splits > 1:
            split_batchnorm(self.backbone, cfg.bn_splits)
        self.head = ProjectionHead(self.backbone.out_dim, cfg.hidden_dim or self.backbone.out_dim, cfg.dim)
        self.key_backbone = copy.deepcopy(self.backbone)
        self.key_head = copy.deepcopy(self.head)
        for p in self.key_parameters():
            p.requires_grad_(False)
        self.register_buffer("queue", F.normalize(torch.randn(cfg.queue_size, cfg.dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        if cfg.far_negatives_s > 0:  # (recording index, start s) of each queued key; -inf: none yet
            self.register_buffer("queue_where", torch.full((cfg.queue_size, 2), -math.inf))

    def to_config(self) -> dict:
        return self.config.to_dict()

    @classmethod
    def from_config(cls, d: dict) -> "MoCo":
        return cls(MoCoConfig.from_dict(d))

    def query_parameters(self):
        return [*self.backbone.parameters(), *self.head.parameters()]

    def key_parameters(self):
        return [*self.key_backbone.parameters(), *self.key_head.parameters()]

    def shuffled(self, backbone: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """``backbone(images)``; with shuffled BN (training, bn_splits > 1) on the batch in a random order."""
        if not (self.training and self.config.bn_splits > 1):
            return backbone(images)
        order = torch.randperm(images.shape[0], device=images.device)
        return backbone(images[order])[torch.argsort(order)]

    def encode_query(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.shuffled(self.backbone, images)), dim=1)

    @torch.no_grad()
    def encode_key(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.key_head(self.shuffled(self.key_backbone, images)), dim=1)

    @torch.no_grad()
    def momentum_update(self) -> None:
        m = self.config.momentum
        for q, k in zip(self.query_parameters(), self.key_parameters()):
            k.mul_(m).add_(q.detach(), alpha=1.0 - m)

    @torch.no_grad()
    def dequeue_and_enqueue(self, keys: torch.Tensor, where: torch.Tensor | None = None) -> None:
        """Write ``keys`` (all ranks' under DDP) at the pointer, wrapping around;
        if more keys than the queue holds, the last ``queue_size`` are kept."""
        size = self.config.queue_size
        keys = gather_from_all_ranks(keys)[-size:]
        index = (self.queue_ptr + torch.arange(keys.shape[0], device=keys.device)) % size
        self.queue[index] = keys.to(self.queue.dtype)
        if hasattr(self, "queue_where"):
            self.queue_where[index] = gather_from_all_ranks(where)[-size:].to(self.queue_where.dtype)
        self.queue_ptr.copy_((self.queue_ptr + keys.shape[0]) % size)

    def resolve_where(self, where: torch.Tensor | None, n: int, device) -> torch.Tensor | None:
        """``where`` as ``(n, 2)`` floats when far negatives are on (images without one: own recording)."""
        if self.config.far_negatives_s <= 0:
            return None
        if where is None:  # a NaN start is near nothing
            return torch.tensor([-1.0, math.nan], device=device).expand(n, 2)
        if where.shape != (n, 2):
            raise ValueError(f"where must be (N, 2) = (recording index, start s) per image; got {tuple(where.shape)}")
        return where.to(device=device, dtype=torch.float32)

    def near(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(len(a), len(b)) True where b's key is from a's recording and starts < far_negatives_s away."""
        same = a[:, None, 0] == b[None, :, 0]
        return same & ((a[:, None, 1] - b[None, :, 1]).abs() < self.config.far_negatives_s)

    def contrastive_logits(self, q: torch.Tensor, k: torch.Tensor, where: torch.Tensor | None = None) -> torch.Tensor:
        positive = (q * k).sum(dim=1, keepdim=True)
        negative = q @ self.queue.clone().detach().T
        if where is None:
            return torch.cat([positive, negative], dim=1) / self.config.temperature
        masked = -1e4  # exp(-1e4 / T) == 0: a left-out negative
        negative = negative.masked_fill(self.near(where, self.queue_where), masked)
        own = torch.eye(len(q), dtype=torch.bool, device=q.device)  # q_i . k_i is the positive already
        in_batch = (q @ k.T).masked_fill(self.near(where, where) | own, masked)
        return torch.cat([positive, negative, in_batch], dim=1) / self.config.temperature

    def forward(self, im_q: torch.Tensor, im_k: torch.Tensor,
                where: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``where``: (N, 2) recording index and start (s) of each pair, used when ``far_negatives_s > 0``."""
        where = self.resolve_where(where, im_q.shape[0], im_q.device)
        q = self.encode_query(im_q)
        if self.training:
            self.momentum_update()
        k = self.encode_key(im_k)
        logits = self.contrastive_logits(q, k, where)
        labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        loss = F.cross_entropy(logits, labels)
        if self.training:
            self.dequeue_and_enqueue(k, where)
        return loss, logits, labels

    def encoder_state_dict(self) -> dict:
        """The query backbone's weights, to load into ``IMUEncoder.backbone``."""
        return {k: v.detach().clone() for k, v in self.backbone.state_dict().items()}
