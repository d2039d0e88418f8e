"""Train the diffusion teacher: `imuedge diffusion train`.

    imuedge diffusion train --out runs/teacher --steps 4000            # HAPT training subjects, CPU
    imuedge diffusion train --out runs/teacher --device cuda --steps 40000 --batch-size 256
    torchrun --nproc_per_node=4 -m imuedge.train.diffusion.train --out runs/teacher ...   # DDP, unchanged

Data: the labelled windows of HAPT's training subjects (subject-disjoint split,
seed 0; validation and test subjects never reach the generator), six basic
activities, 128 samples at 50 Hz; ``--subjects`` keeps only some training subjects
(the few-subjects protocol). Every ``--checkpoint-every`` steps OUT/last.pt is
written atomically (model, EMA, optimiser, RNG); re-running with the same --out
resumes from it. The EMA weights are what samplers use. OUT/teacher.pt is the
final checkpoint.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from copy import deepcopy
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from imuedge import checkpoint
from imuedge.train.diffusion.model import DiffusionConfig, DiffusionModel, ema_update, model_from_checkpoint
from imuedge.train.distributed import init_distributed, resolve_device

KIND = "diffusion_teacher"


@dataclass
class TrainConfig:
    out: str = "runs/diffusion-teacher"
    steps: int = 4000
    batch_size: int = 64
    lr: float = 2e-4
    warmup: int = 200
    ema: float = 0.999
    seed: int = 0
    split_seed: int = 0
    subjects: tuple[int, ...] = ()  # keep only these training subjects (empty: all)
    hop: int = 16  # windows every this many samples inside constant-label runs
    checkpoint_every: int = 500
    device: str = "auto"
    threads: int = 0
    model: DiffusionConfig = field(default_factory=DiffusionConfig)


def training_windows(cfg: TrainConfig):
    """(x (N, C, T) float32 physical, y (N,), class names) of the training subjects."""
    from imuedge.data import load_hapt_windows

    train = load_hapt_windows(window=cfg.model.framing.samples, hop=cfg.hop, seed=cfg.split_seed)["train"]
    if cfg.subjects:
        unknown = sorted(set(cfg.subjects) - set(int(s) for s in train.subject))
        if unknown:
            raise ValueError(f"subjects {unknown} are not training subjects of split seed {cfg.split_seed} "
                             f"(those are {sorted(set(int(s) for s in train.subject))})")
        train = train.subset(np.isin(train.subject, list(cfg.subjects)))
    names = tuple(train.label_names[i] for i in sorted(train.label_names))
    return train.x, train.y, names, tuple(train.channels)


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)))


def save_teacher(path, model: DiffusionModel, ema: DiffusionModel, cfg: TrainConfig, step: int,
                 opt=None, gen=None, seconds: float = 0.0, data: str = "") -> Path:
    obj = {"kind": KIND, "model": {"name": "diffusion", "config": model.config.to_dict()},
           "state_dict": ema.state_dict(),
           "window": {"channels": list(model.config.channels), "sample_rate_hz": model.config.sample_rate_hz,
                      "window": model.config.framing.samples, "hop": cfg.hop},
           "label_names": {str(i): n for i, n in enumerate(model.config.class_names)},
           "train": {"config": {**asdict(cfg), "model": model.config.to_dict()}, "step": step,
                     "seconds": round(seconds, 1)},
           "provenance": checkpoint.provenance(seed=cfg.seed, data=data)}
    if opt is not None:
        obj["train_state"] = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                              "rng": gen.get_state(), "step": step}
    return checkpoint.save(obj, path)


def load_diffusion(path) -> tuple[DiffusionModel, dict]:
    """The EMA teacher of a checkpoint, eval mode, and the checkpoint dict."""
    model, ckpt = model_from_checkpoint(path, KIND, "a diffusion teacher", "the diffusion model",
                                        lambda model, ckpt: model.load_state_dict(ckpt["state_dict"]))
    return model.eval(), ckpt


def train(cfg: TrainConfig, quiet: bool = False, windows=None, init: str = "") -> Path:
    """Train (or resume) the teacher; OUT/teacher.pt. ``windows``: (x, y, class names, channels, description)
    to train on instead of ``training_windows(cfg)`` (a y of ``len(names)``, the null class, is a window
    without a label); ``init``: a teacher checkpoint whose weights and framing this run starts from
    (fine-tuning)."""
    device = resolve_device(cfg.device)
    rank, world = init_distributed(device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    x, y, names, channels, *described = windows or training_windows(cfg)
    cfg.model.class_names, cfg.model.channels = names, channels
    torch.manual_seed(cfg.seed)
    model = DiffusionModel(cfg.model)
    if init:
        model.load_state_dict(load_diffusion(init)[0].state_dict())
    else:
        model.framing.fit(torch.from_numpy(x))
    model.to(device)
    ema = deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.unet.parameters(), lr=cfg.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + rank)
    step, seconds = 0, 0.0
    last = out / "last.pt"
    if last.exists():
        ckpt = checkpoint.load(last)
        st = ckpt["train_state"]
        model.load_state_dict(st["model"])
        ema.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(st["optimizer"])
        gen.set_state(st["rng"])
        step, seconds = int(st["step"]), float(ckpt["train"]["seconds"])
        if rank == 0 and not quiet:
            print(f"[diffusion train] resuming from {last} at step {step}", flush=True)
    net = model.unet
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model.unet, device_ids=[device.index]
                                                        if device.type == "cuda" else None)
    xs, ys = torch.from_numpy(x), torch.from_numpy(np.asarray(y, np.int64))
    data = described[0] if described else f"UCI HAPT training subjects (split seed {cfg.split_seed})" + \
        (f", subjects {list(cfg.subjects)}" if cfg.subjects else "") + f", {len(xs)} windows"
    bar = tqdm(total=cfg.steps, initial=step, desc="diffusion train", disable=quiet or rank != 0, leave=False)
    t0 = time.time() - seconds
    model.train()
    while step < cfg.steps:
        idx = torch.randint(0, len(xs), (cfg.batch_size,), generator=gen)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        loss = model.loss(xs[idx].to(device), ys[idx].to(device), generator=gen, net=net)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.unet.parameters(), 1.0)
        opt.step()
        ema_update(ema.unet, model.unet, step, cfg.ema)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if rank == 0 and (step % cfg.checkpoint_every == 0 or step == cfg.steps):
            save_teacher(last, model, ema, cfg, step, opt, gen, time.time() - t0, data)
    bar.close()
    path = out / "teacher.pt"
    if rank == 0:
        ema.framing.load_state_dict(model.framing.state_dict())
        save_teacher(path, model.cpu(), ema.cpu(), cfg, step, seconds=time.time() - t0, data=data)
        if not quiet:
            print(f"[diffusion train] {step} steps in {time.time() - t0:.0f} s -> {path}", flush=True)
    if dist.is_initialized():
        dist.barrier()
    return path


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    m = d.model
    p.add_argument("--out", default=d.out, help="run folder (last.pt for resuming, teacher.pt at the end)")
    p.add_argument("--steps", type=int, default=d.steps, help="optimiser steps")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="windows per step")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (warm-up, cosine)")
    p.add_argument("--ema", type=float, default=d.ema, help="EMA decay of the weights samplers use")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed")
    p.add_argument("--subjects", default="", help="comma-separated training subjects to keep (default: all)")
    p.add_argument("--base", type=int, default=m.base, help="UNet base width")
    p.add_argument("--timesteps", type=int, default=m.schedule.steps, help="diffusion steps T")
    p.add_argument("--beta-acc", default=f"{m.schedule.beta_start['acc']:g},{m.schedule.beta_end['acc']:g}",
                   help="accelerometer planes' linear schedule: beta_start,beta_end")
    p.add_argument("--beta-gyro", default=f"{m.schedule.beta_start['gyro']:g},{m.schedule.beta_end['gyro']:g}",
                   help="gyroscope planes' linear schedule: beta_start,beta_end")
    p.add_argument("--cond-drop", type=float, default=m.cond_drop, help="class dropout for guidance")
    p.add_argument("--window-mean", action=argparse.BooleanOptionalAction, default=m.framing.window_mean,
                   help="carry each window's channel means apart from its STFT (the DC bin's imaginary row); "
                        "--no-window-mean: the framing of teachers before it (train/diffusion/framing.py)")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, help="steps between OUT/last.pt writes")
    p.add_argument("--device", default=d.device, help="auto | cpu | cuda | cuda:N")
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (0: default)")


def _pair(text: str, flag: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"{flag} must be two numbers beta_start,beta_end, got {text!r}") from None
    return a, b


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    cfg = TrainConfig(out=a.out, steps=a.steps, batch_size=a.batch_size, lr=a.lr, ema=a.ema, seed=a.seed,
                      subjects=tuple(int(s) for s in a.subjects.split(",") if s.strip()),
                      checkpoint_every=a.checkpoint_every, device=a.device, threads=a.threads)
    m = cfg.model
    m.base, m.cond_drop, m.schedule.steps = a.base, a.cond_drop, a.timesteps
    m.framing.window_mean = a.window_mean
    for sensor, text, flag in (("acc", a.beta_acc, "--beta-acc"), ("gyro", a.beta_gyro, "--beta-gyro")):
        m.schedule.beta_start[sensor], m.schedule.beta_end[sensor] = _pair(text, flag)
    if cfg.steps <= 0 or cfg.batch_size <= 0:
        raise ValueError("--steps and --batch-size must be positive")
    return cfg


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m imuedge.train.diffusion.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    train(config_from_args(p.parse_args(argv)))
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
