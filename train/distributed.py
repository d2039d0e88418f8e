"""Where a training run runs: its device and, under ``torchrun``, its rank in the process group.

    device = resolve_device("auto")         # this rank's GPU when CUDA is available, else the CPU
    rank, world = init_distributed(device)  # (0, 1) without torchrun; gloo on CPU, nccl on GPU

Shared by every trainer that runs unchanged under ``torchrun`` (IMG2IMU and MAE pretraining, the
diffusion teacher).
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def resolve_device(name: str) -> torch.device:
    """``auto``: this rank's GPU when CUDA is available, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} asked for, but this torch build sees no CUDA GPU")
        if name == "cuda":
            name = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return torch.device(name)


def init_distributed(device: torch.device = torch.device("cpu")) -> tuple[int, int]:
    """(rank, world_size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
