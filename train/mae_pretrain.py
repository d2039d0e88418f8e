"""MAE pretraining on unlabelled raw IMU windows: `imuedge pretrain --method mae`.

    imuedge pretrain --method mae --steps 2000 --out runs/mae                 # HAPT training subjects
    imuedge pretrain --method mae --imu-windows my_recordings/ --out runs/mae  # your own CSV recordings
    torchrun --nproc_per_node=2 -m imuedge.train.pretrain --method mae ...
    imuedge pretrain --method mae --device cuda --mae-size large ...

Data: windows every ``--mae-hop`` samples over WHOLE recordings (label changes, transitions and
unlabelled stretches included; no label is read): ``hapt-train`` (the default split's training
subjects, so the test subjects stay unseen), a folder of CSV recordings, or an .npz with x (N, C, T)
and channels. The per-channel z-score inside the encoder is fitted on these windows before step 0.

Each rank draws its own random windows and masks (seeded by seed and rank); DDP all-reduces the
gradients, so all ranks hold the same weights. Checkpoints are atomic; re-running the same command
resumes from ``OUT/last.pt`` (weights with the decoder, optimizer, step, random state).
Outputs: ``OUT/last.pt`` (kind ``mae``: the whole masked autoencoder, for reconstructions),
``OUT/encoder.pt`` (kind ``encoder``: the ``MAEEncoder`` alone, what `imuedge train --encoder`,
`imuedge run` and `benchmarks.encoder_probe` take), ``OUT/metrics.jsonl``.

Optional augmentations (``--mae-augment rotate,scale,jitter``): one random rotation of the sensor
frame applied alike to the accelerometer and gyroscope triads, a random gain per window, Gaussian jitter.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from imuedge import checkpoint
from imuedge.train.distributed import init_distributed, resolve_device
from imuedge.train.encoder import model_spec
from imuedge.train.image_sources import HAPT_TRAIN
from imuedge.train.mae import MAEConfig, MaskedAutoencoder
from imuedge.train.pretrain import lr_at
from imuedge.window import WindowSpec

SIZES = {"edge": MAEConfig, "large": MAEConfig.large}
AUGMENTS = ("rotate", "scale", "jitter")


@dataclass
class MAEPretrainConfig:
    model: MAEConfig = field(default_factory=MAEConfig)
    imu_windows: str = HAPT_TRAIN  # hapt-train | FOLDER of recordings | FILE.npz
    hop: int = 16  # samples between window starts over whole recordings (hapt-train, folders)
    augment: str = ""  # comma-separated from AUGMENTS; empty: none
    steps: int = 2000
    batch_size: int = 128
    lr: float = 1e-3  # AdamW peak, cosine decay after warm-up
    weight_decay: float = 0.05
    warmup_steps: int = 100
    seed: int = 0
    out: str = "runs/mae"
    checkpoint_every: int = 200
    log_every: int = 20
    threads: int = 0
    device: str = "auto"

    def to_dict(self) -> dict:
        return {**asdict(self), "model": self.model.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "MAEPretrainConfig":
        d = {k: v for k, v in d.items() if k in {f.name for f in fields(cls)}}
        return cls(**{**d, "model": MAEConfig.from_dict(d.get("model", {}))})


def load_windows(source: str, window: int, hop: int) -> tuple[np.ndarray, tuple[str, ...], float]:
    """Unlabelled windows ``(N, C, T)``, their channels and sample rate, from ``--imu-windows``."""
    from imuedge.data import load_recordings, unlabelled_windows
    from imuedge.train.image_sources import hapt_train_windows

    if source == HAPT_TRAIN:
        ws = hapt_train_windows(window, hop)
        return ws.x, tuple(ws.channels), float(ws.sample_rate_hz)
    path = Path(source)
    if path.is_dir():
        ds, errors = load_recordings(path)
        for e in errors:
            print(f"[pretrain] skipped a malformed file: {e}")
        if not ds.recordings:
            raise ValueError(f"{path}: no recording could be loaded ({len(errors)} malformed)")
        ws = unlabelled_windows(ds, window, hop)
        return ws.x, tuple(ws.channels), float(ws.sample_rate_hz)
    if path.suffix == ".npz" and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            if "x" not in z or "channels" not in z:
                raise ValueError(f"{path}: needs arrays x (N, C, T) and channels; it has {sorted(z.files)}")
            x, channels = z["x"].astype(np.float32), tuple(str(c) for c in z["channels"])
            rate = float(z["sample_rate_hz"]) if "sample_rate_hz" in z else 50.0
        if x.ndim != 3 or x.shape[1] != len(channels) or len(x) == 0:
            raise ValueError(f"{path}: x has shape {x.shape}, expected (N > 0, {len(channels)}, T)")
        return x, channels, rate
    raise ValueError(f"--imu-windows {source!r}: expected {HAPT_TRAIN}, a folder of recordings or an .npz file")


def augment(x: torch.Tensor, ops: tuple[str, ...], channels: tuple[str, ...], g: torch.Generator) -> torch.Tensor:
    """Rotation of the sensor frame (one per window, the same for both triads), gain in [0.8, 1.2], jitter."""
    if "rotate" in ops:
        q = torch.randn(len(x), 4, generator=g)
        q = q / q.norm(dim=1, keepdim=True)  # uniform random unit quaternion -> rotation matrix
        w, i, j, k = q.unbind(1)
        r = torch.stack([1 - 2 * (j * j + k * k), 2 * (i * j - k * w), 2 * (i * k + j * w),
                         2 * (i * j + k * w), 1 - 2 * (i * i + k * k), 2 * (j * k - i * w),
                         2 * (i * k - j * w), 2 * (j * k + i * w), 1 - 2 * (i * i + j * j)], 1).reshape(-1, 3, 3)
        x = x.clone()
        for triad in (("acc_x", "acc_y", "acc_z"), ("gyro_x", "gyro_y", "gyro_z")):
            if all(c in channels for c in triad):
                idx = [channels.index(c) for c in triad]
                x[:, idx] = r @ x[:, idx]
    if "scale" in ops:
        x = x * (0.8 + 0.4 * torch.rand(len(x), 1, 1, generator=g))
    if "jitter" in ops:
        x = x + 0.05 * x.std(dim=2, keepdim=True) * torch.randn(x.shape, generator=g)
    return x


def pretrain(cfg: MAEPretrainConfig, quiet: bool = False) -> Path:
    """Run (or resume) MAE pretraining; returns the path of the encoder checkpoint."""
    return train(cfg, quiet)[1]


def train(cfg: MAEPretrainConfig, quiet: bool = False) -> tuple[MaskedAutoencoder, Path]:
    ops = tuple(o.strip() for o in cfg.augment.split(",") if o.strip())
    if set(ops) - set(AUGMENTS):
        raise ValueError(f"unknown augmentation(s) {sorted(set(ops) - set(AUGMENTS))}; choose from {list(AUGMENTS)}")
    device = resolve_device(cfg.device)
    rank, world = init_distributed(device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    x_all, channels, rate = load_windows(cfg.imu_windows, cfg.model.window, cfg.hop)
    cfg.model = MAEConfig.from_dict({**cfg.model.to_dict(), "channels": list(channels), "window": x_all.shape[2]})
    windows = torch.from_numpy(np.ascontiguousarray(x_all))
    torch.manual_seed(cfg.seed)  # same initial weights on every rank
    mae = MaskedAutoencoder(cfg.model)
    mae.encoder.fit_normalization(x_all)
    mae.to(device)
    opt = torch.optim.AdamW(mae.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)
    draw = torch.Generator().manual_seed(cfg.seed * 7919 + rank)
    out, start, seconds = Path(cfg.out), 0, 0.0
    last = out / "last.pt"
    if last.exists():
        state = checkpoint.load(last)
        mae.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["train_state"]["optimizer"])
        start, seconds = state["train_state"]["step"], state["train_state"]["seconds"]
        ranks = state["train_state"].get("rng") or []
        if len(ranks) == world:
            draw.set_state(ranks[rank])
        else:
            draw.manual_seed(cfg.seed * 7919 + rank + 104729 * start)
        if rank == 0 and not quiet:
            print(f"[pretrain] resuming from {last} at step {start}/{cfg.steps}")
    model = torch.nn.parallel.DistributedDataParallel(
        mae, device_ids=[device.index] if device.type == "cuda" else None) if world > 1 else mae
    out.mkdir(parents=True, exist_ok=True)
    spec = WindowSpec(channels, rate, cfg.model.window, max(1, cfg.model.window // 2)).to_dict()
    mae.train()
    for step in range(start, cfg.steps):
        t0 = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        x = augment(windows[torch.randint(len(windows), (cfg.batch_size,), generator=draw)], ops, channels, draw)
        loss, _, _ = model(x.to(device, non_blocking=True), generator=draw)
        opt.zero_grad()
        loss.backward()
        opt.step()
        seconds += time.perf_counter() - t0
        done = step + 1
        if rank == 0 and (done % cfg.log_every == 0 or done == cfg.steps):
            line = {"step": done, "loss": round(loss.item(), 5), "lr": round(lr_at(step, cfg), 7),
                    "elapsed_s": round(seconds, 2), "world_size": world}
            with open(out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(line) + "\n")
            if not quiet:
                print(f"[pretrain] step {done}/{cfg.steps} loss {line['loss']:.4f} ({seconds:.0f} s)", flush=True)
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            rngs = gather_states(draw, world)  # every rank takes part
            if rank == 0:
                checkpoint.save({"kind": "mae", "model": model_spec(mae), "state_dict": mae.state_dict(),
                                 "window": spec, "config": cfg.to_dict(),
                                 "train_state": {"step": done, "seconds": seconds, "optimizer": opt.state_dict(),
                                                 "rng": rngs},
                                 "provenance": checkpoint.provenance(seed=cfg.seed, data=cfg.imu_windows)}, last)
    path = out / "encoder.pt"
    if rank == 0:
        checkpoint.save({"kind": "encoder", "model": model_spec(mae.encoder), "state_dict": mae.encoder.state_dict(),
                         "window": spec,
                         "pretrain": {"method": "mae", "config": cfg.to_dict(), "step": cfg.steps,
                                      "seconds": round(seconds, 1), "windows": len(windows)},
                         "provenance": checkpoint.provenance(seed=cfg.seed, data=cfg.imu_windows)}, path)
    if dist.is_initialized():
        dist.barrier()
    return mae, path


def set_pool(path, pool: str) -> None:
    """Rewrite an MAE encoder checkpoint (``encoder.pt``) to pool its tokens by ``pool``: the weights are
    unchanged (pooling has none), only the model and pretraining configs' ``pool`` entry. Used once, on
    2026-12-07, to give ``train/weights/mae_edge.pt`` the ``mean_std`` features (its README)."""
    from imuedge.train.mae import POOLS

    if pool not in POOLS:
        raise ValueError(f"unknown pool {pool!r}; use one of {list(POOLS)}")
    ckpt = checkpoint.load(path)
    if ckpt.get("kind") != "encoder" or (ckpt.get("model") or {}).get("name") != "mae_encoder":
        raise ValueError(f"{path}: not an MAE encoder checkpoint (kind {ckpt.get('kind')!r})")
    ckpt["model"]["config"]["pool"] = pool
    if "pretrain" in ckpt:
        ckpt["pretrain"]["config"]["model"]["pool"] = pool
    checkpoint.save(ckpt, path)


def gather_states(draw: torch.Generator, world: int) -> list[torch.Tensor]:
    if world == 1:
        return [draw.get_state()]
    states: list = [None] * world
    dist.all_gather_object(states, draw.get_state())
    return states


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags only `--method mae` reads (it shares --steps, --batch-size, --lr, --seed, --out,
    --checkpoint-every, --threads, --device and --imu-windows with MoCo)."""
    d, m = MAEPretrainConfig(), MAEConfig()
    g = p.add_argument_group("MAE (--method mae)")
    g.add_argument("--mae-size", default="edge", choices=sorted(SIZES),
                   help="edge (encoder ~0.4 M parameters, the shipped size) or large (~4.8 M, for a GPU)")
    g.add_argument("--patch", type=int, default=m.patch, help="samples per token (default %(default)s)")
    g.add_argument("--mask-ratio", type=float, default=m.mask_ratio, help="share of tokens masked (%(default)s)")
    g.add_argument("--norm-target", action="store_true", help="targets normalised patch by patch (norm_pix_loss)")
    g.add_argument("--spectral-weight", type=float, default=m.spectral_weight,
                   help="> 0: add this times the STFT-magnitude reconstruction term (default %(default)s)")
    g.add_argument("--mae-pool", default=m.pool, choices=["mean_std", "mean"],
                   help="the encoder's features: mean and standard deviation of its tokens, or their mean "
                        "(default %(default)s; pretraining itself does not use them)")
    g.add_argument("--activation", default=m.activation, choices=["gelu", "gelu_tanh", "relu"],
                   help="MLP activation (default %(default)s)")
    g.add_argument("--mae-hop", type=int, default=d.hop,
                   help="samples between window starts over whole recordings (default %(default)s)")
    g.add_argument("--mae-augment", default=d.augment,
                   help=f"comma-separated augmentations from {', '.join(AUGMENTS)} (default: none)")
    g.add_argument("--weight-decay", type=float, default=d.weight_decay, help="AdamW weight decay (%(default)s)")


def config_from_args(a: argparse.Namespace) -> MAEPretrainConfig:
    d = MAEPretrainConfig()
    model = SIZES[a.mae_size](patch=a.patch, mask_ratio=a.mask_ratio, norm_target=a.norm_target,
                              spectral_weight=a.spectral_weight, activation=a.activation, pool=a.mae_pool)
    pick = lambda v, default: default if v is None else v  # noqa: E731 - flags MoCo shares, default None
    return MAEPretrainConfig(model=model, imu_windows=a.imu_windows or d.imu_windows, hop=a.mae_hop,
                             augment=a.mae_augment, steps=pick(a.steps, d.steps),
                             batch_size=pick(a.batch_size, d.batch_size), lr=pick(a.lr, d.lr),
                             weight_decay=a.weight_decay, seed=a.seed, out=pick(a.out, d.out),
                             checkpoint_every=pick(a.checkpoint_every, d.checkpoint_every), threads=a.threads,
                             device=a.device)


def describe(cfg: MAEPretrainConfig) -> str:
    """One line for a report's 'Pretraining' column."""
    return f"MAE, {cfg.steps} steps (mask {cfg.model.mask_ratio:g}, patch {cfg.model.patch}" + \
        (f", spectral {cfg.model.spectral_weight:g}" if cfg.model.spectral_weight else "") + \
        (", per-patch normalised targets" if cfg.model.norm_target else "") + \
        (f", augment {cfg.augment}" if cfg.augment else "") + \
        ("; features: mean and std over tokens" if cfg.model.pool == "mean_std" else "") + ")"

