"""IMG2IMU pretraining: MoCo v2 on images, with sensor-aware augmentations.

One CPU by default; unchanged under ``torchrun --nproc_per_node=N`` (DDP:
gloo on CPU, nccl on GPU). Each rank draws its own images; gradients are
all-reduced by DDP and the MoCo queue is filled with keys from all ranks, so
every rank holds the same weights after every step.

    imuedge pretrain --steps 2000 --out runs/pretrain
    torchrun --nproc_per_node=2 -m imuedge.train.pretrain --steps 2000
    imuedge pretrain --device cuda --workers 8 --batch-size 256 ...   # one GPU

On a GPU the model and the augmentations run on the device; procedural images are
drawn on the CPU, by ``--workers`` DataLoader processes when the CPU would be the
bottleneck (a seeded sampler picks the items and item ``i`` depends only on ``(seed, i)``, so
any number of workers >= 1 draws the same images; ``--workers 0`` draws its own sequence).

Checkpoints are atomic, carry their config and code version, and resume:
re-running the same command continues from ``OUT/last.pt``, with the random state saved
there, so N steps in one run and N/2 + resume + N/2 give the same weights on one machine
(a run resumed with another number of ranks draws afresh and says so).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from imuedge import checkpoint
from imuedge.spectrogram import SpectrogramConfig
from imuedge.train.augment import Hue, Jitter, MocoV2Default, PermuteX, SensorAware, TranslateX
from imuedge.train.distributed import init_distributed, resolve_device
from imuedge.train.encoder import IMUEncoder, model_spec
from imuedge.train.image_sources import HAPT_TRAIN, POSITIVES, ImageStream
from imuedge.train.moco import MoCo, MoCoConfig
from imuedge.window import WindowSpec


@dataclass
class PretrainConfig:
    backbone: str = "edge"  # edge | resnet18
    sources: str = "procedural"  # '+'-joined: procedural, imu, folder
    image_folder: str = ""  # for the 'folder' source (ImageNet-style folder of png/jpg)
    imu_windows: str = ""  # 'hapt-train', or an .npz with x (N, C, T) unlabelled windows for the 'imu' source
    imu_positives: str = "augment"  # augment: both views from one window | neighbour: a nearby window's
    neighbour_seconds: float = 5.0  # 'neighbour': the key window starts at most this far from the query's
    recordings_per_batch: int = 0  # 'imu': a batch's windows come from this many recordings (0: from all)
    augment: str = "sensor"  # sensor (TranslateX/PermuteX/Hue/Jitter) | mocov2 (standard set)
    sensor_ops: str = "translatex,permutex,hue,jitter"  # the sensor-aware set (one op per view)
    steps: int = 600
    batch_size: int = 64
    lr: float = 0.06
    weight_decay: float = 1e-4
    warmup_steps: int = 20
    moco: MoCoConfig = field(default_factory=MoCoConfig)
    spectrogram: SpectrogramConfig = field(default_factory=SpectrogramConfig)
    seed: int = 0
    out: str = "runs/pretrain"
    checkpoint_every: int = 100
    log_every: int = 10
    threads: int = 0  # 0: torch default
    device: str = "auto"  # auto (cuda when available) | cpu | cuda | cuda:N
    workers: int = 0  # DataLoader processes drawing procedural images (0: in the training process)

    @classmethod
    def from_dict(cls, d: dict) -> "PretrainConfig":
        d = dict(d)
        d["moco"] = MoCoConfig.from_dict(d.get("moco", {}))
        d["spectrogram"] = SpectrogramConfig.from_dict(d.get("spectrogram", {}))
        return cls(**{k: v for k, v in d.items() if k in {f.name for f in fields(cls)}})


# -------------------------------------------------------------------- training

def lr_at(step: int, cfg: PretrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))


SENSOR_OPS = {"translatex": TranslateX, "permutex": PermuteX, "hue": Hue, "jitter": Jitter}


def build_augment(cfg: PretrainConfig):
    if cfg.augment == "mocov2":
        return MocoV2Default()
    if cfg.augment != "sensor":
        raise ValueError(f"unknown augmentation set {cfg.augment!r}; use sensor or mocov2")
    names = [n.strip().lower() for n in cfg.sensor_ops.split(",") if n.strip()]
    unknown = [n for n in names if n not in SENSOR_OPS]
    if unknown or not names:
        raise ValueError(f"unknown sensor-aware op(s) {unknown or cfg.sensor_ops!r}; choose from {sorted(SENSOR_OPS)}")
    return SensorAware([SENSOR_OPS[n]() for n in names])


def build_moco(cfg: PretrainConfig) -> MoCo:
    return MoCo(replace(cfg.moco, backbone=cfg.backbone))


def encoder_checkpoint(moco: MoCo, cfg: PretrainConfig, channels, step: int, seconds: float,
                       window: WindowSpec | None = None) -> dict:
    """The pretrained query backbone as a standalone IMU encoder checkpoint; ``window``: the IMU windows it was
    pretrained on (their rate is what `imuedge train` resamples a user's data to), when known."""
    encoder = IMUEncoder(channels=tuple(channels), backbone=cfg.backbone, spectrogram=cfg.spectrogram)
    encoder.backbone.load_state_dict(moco.encoder_state_dict())
    return {
        "kind": "encoder",
        "model": model_spec(encoder),
        "state_dict": encoder.state_dict(),
        **({"window": window.to_dict()} if window is not None else {}),
        "pretrain": {"config": json.loads(json.dumps(asdict(cfg))), "step": step, "seconds": round(seconds, 1)},
        "provenance": checkpoint.provenance(seed=cfg.seed, data=cfg.sources),
    }


def record_window(path, imu_windows: str = HAPT_TRAIN) -> dict:
    """Give an encoder checkpoint made before pretraining recorded its windows the 'window' entry that
    pretraining writes now (channels, the rate of ``imu_windows``, the spectrogram's length); the weights are
    unchanged. Returns the entry."""
    ckpt = checkpoint.load(path)
    if ckpt.get("kind") != "encoder":
        raise checkpoint.CheckpointError(f"{path}: kind {ckpt.get('kind')!r}, not an encoder checkpoint")
    config = ckpt["model"]["config"]
    samples = int(config.get("spectrogram", {}).get("samples", 128))
    rate = rate_of(imu_windows)
    if rate is None:
        raise ValueError(f"{imu_windows}: no 'sample_rate_hz' in it, so the encoder's rate is unknown")
    ckpt["window"] = WindowSpec(tuple(config["channels"]), rate, samples, max(1, samples // 2)).to_dict()
    checkpoint.save(ckpt, path)
    return ckpt["window"]


def rate_of(path: str) -> float | None:
    """The sample rate of ``--imu-windows``: HAPT's for hapt-train, else the file's 'sample_rate_hz'."""
    from imuedge.data.hapt import SAMPLE_RATE_HZ

    if path == HAPT_TRAIN:
        return SAMPLE_RATE_HZ
    if path:
        with np.load(path) as z:
            if "sample_rate_hz" in z:
                return float(z["sample_rate_hz"])
    return None


def check_sources(cfg: PretrainConfig) -> None:
    """Refuse data flags that no chosen source reads (they would be ignored without a word)."""
    names = cfg.sources.split("+")
    for flag, value, source in (("--imu-windows", cfg.imu_windows, "imu"), ("--image-folder", cfg.image_folder, "folder")):
        if value and source not in names:
            raise ValueError(f"{flag} {value} is read only by the '{source}' source, and --sources is "
                             f"{cfg.sources!r}: add it (e.g. --sources {source}) or leave {flag} out")


def pretrain(cfg: PretrainConfig, channels=("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"),
             quiet: bool = False) -> Path:
    """Run (or resume) MoCo pretraining; returns the path of the encoder checkpoint."""
    return train(cfg, channels, quiet)[1]


def train(cfg: PretrainConfig, channels=("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"),
          quiet: bool = False) -> tuple[MoCo, Path]:
    """The training loop; returns this rank's MoCo module and the encoder checkpoint path."""
    check_sources(cfg)
    device = resolve_device(cfg.device)
    rank, world = init_distributed(device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    torch.manual_seed(cfg.seed)  # same initial weights on every rank
    moco = build_moco(cfg).to(device)
    augment = build_augment(cfg)
    params = [p for p in moco.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    start, seconds, rng = 0, 0.0, None
    last = out / "last.pt"
    if last.exists():
        state = checkpoint.load(last)
        moco.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["train_state"]["optimizer"])
        start, seconds = state["train_state"]["step"], state["train_state"]["seconds"]
        ranks = state["train_state"].get("rng") or []
        rng = ranks[rank] if len(ranks) == world else None
        if rank == 0 and not quiet:
            print(f"[pretrain] resuming from {last} at step {start}/{cfg.steps}"
                  + ("" if rng else f" (its random state is for {len(ranks)} rank(s), not {world}: "
                                    f"fresh random draws from here)"))
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            moco, device_ids=[device.index] if device.type == "cuda" else None)
    else:
        model = moco
    stream = ImageStream(cfg, rank, start)
    aug_gen = torch.Generator().manual_seed(cfg.seed * 31 + rank)
    if rng is not None:
        restore_rng(rng, stream, aug_gen, device)
    elif start:  # no saved random state: draw afresh rather than repeat steps 0.. of the sequence
        stream.generator.manual_seed(cfg.seed * 7919 + rank + 104729 * start)
        aug_gen.manual_seed(cfg.seed * 31 + rank + 7 * start)
    log = (out / "metrics.jsonl") if rank == 0 else None
    out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=cfg.steps, initial=start, desc="pretrain", unit="step", disable=quiet or rank != 0,
               dynamic_ncols=True)
    moco.train()
    for step in range(start, cfg.steps):
        t0 = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        images, positives, where = stream.batch(cfg.batch_size)
        images, positives = images.to(device, non_blocking=True), positives.to(device, non_blocking=True)
        im_q, im_k = augment(images, aug_gen), augment(positives, aug_gen)
        loss, logits, labels = model(im_q, im_k, where)
        opt.zero_grad()
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        seconds += dt
        ips = cfg.batch_size * world / dt
        bar.set_postfix(loss=f"{loss.item():.3f}", img_s=f"{ips:.0f}")
        bar.update(1)
        done = step + 1
        if log is not None and (done % cfg.log_every == 0 or done == cfg.steps):
            acc = (logits.argmax(1) == labels).float().mean().item()
            with open(log, "a") as f:
                f.write(json.dumps({"step": done, "loss": round(loss.item(), 5), "instance_acc": round(acc, 4),
                                    "lr": round(lr_at(step, cfg), 6), "images_per_s": round(ips, 1),
                                    "elapsed_s": round(seconds, 2), "world_size": world}) + "\n")
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            rngs = gather_rng(stream, aug_gen, device, world)  # every rank takes part
            if rank == 0:
                checkpoint.save({"kind": "moco", "model": {"name": "moco"}, "state_dict": moco.state_dict(),
                                 "config": json.loads(json.dumps(asdict(cfg))),
                                 "train_state": {"step": done, "seconds": seconds, "optimizer": opt.state_dict(),
                                                 "rng": rngs},
                                 "provenance": checkpoint.provenance(seed=cfg.seed)}, last)
    bar.close()
    path = out / "encoder.pt"
    if rank == 0:
        checkpoint.save(encoder_checkpoint(moco, cfg, channels, cfg.steps, seconds, stream.window_spec()), path)
    if dist.is_initialized():
        dist.barrier()
    return moco, path


def rng_state(stream: ImageStream, aug_gen: torch.Generator, device: torch.device) -> dict:
    """This rank's random state: the image stream's and the augmentations' generators, and torch's global
    generator(s) (shuffled BN's permutations). Tensors only, so a checkpoint keeps loading weights-only."""
    state = {"stream": stream.generator.get_state(), "augment": aug_gen.get_state(), "cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict, stream: ImageStream, aug_gen: torch.Generator, device: torch.device) -> None:
    stream.generator.set_state(state["stream"])
    aug_gen.set_state(state["augment"])
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def gather_rng(stream: ImageStream, aug_gen: torch.Generator, device: torch.device, world: int) -> list[dict]:
    """Every rank's ``rng_state``, in rank order (each rank draws its own images)."""
    mine = rng_state(stream, aug_gen, device)
    if world == 1:
        return [mine]
    states: list = [None] * world
    dist.all_gather_object(states, mine)
    return [{k: v.cpu() for k, v in s.items()} for s in states]


def add_recipe_arguments(p: argparse.ArgumentParser, d: PretrainConfig) -> None:
    """The flags of how pairs are made (positives, negatives, shuffled BN, sensor-aware ops), with ``d``'s
    values as defaults; shared by `imuedge pretrain` and `imuedge run`, read back by ``apply_recipe_arguments``."""
    p.add_argument("--imu-positives", default=d.imu_positives, choices=list(POSITIVES),
                   help="how the 'imu' source makes a positive pair: 'augment' (two augmentations of one window, "
                        "as IMG2IMU) or 'neighbour' (the key view is another window of the same recording "
                        "starting at most --neighbour-seconds away, then augmented). Default: %(default)s")
    p.add_argument("--neighbour-seconds", type=float, default=d.neighbour_seconds,
                   help="reach of 'neighbour' positives in seconds (default %(default)s)")
    p.add_argument("--recordings-per-batch", type=int, default=d.recordings_per_batch,
                   help="'imu' source: draw each batch's windows from this many recordings (0: from all windows; "
                        "default %(default)s); with --far-negatives, other moments of the same recording become "
                        "hard negatives")
    p.add_argument("--far-negatives", type=float, default=d.moco.far_negatives_s, metavar="SECONDS",
                   help="> 0: the other keys of the batch are negatives too, and no key from the query's own "
                        "recording starting less than SECONDS from it is a negative (queued or in the batch; it "
                        "is most likely the same activity bout). 0: MoCo's queue only (default %(default)s)")
    p.add_argument("--bn-splits", type=int, default=d.moco.bn_splits,
                   help="> 1: MoCo's shuffled BN on one process -- BatchNorm statistics over this many equal "
                        "chunks of the batch, which the query and the key encoder each see in their own random "
                        "order (the batch size must be a multiple). 1: statistics over the whole batch "
                        "(default %(default)s)")
    p.add_argument("--sensor-ops", default=d.sensor_ops,
                   help="comma-separated sensor-aware ops from translatex, permutex, hue, jitter, one drawn per "
                        "view (default %(default)s)")


def apply_recipe_arguments(cfg: PretrainConfig, a: argparse.Namespace) -> PretrainConfig:
    """Set the fields of ``add_recipe_arguments``'s flags on ``cfg`` (in place) and return it."""
    cfg.imu_positives, cfg.neighbour_seconds = a.imu_positives, a.neighbour_seconds
    cfg.recordings_per_batch, cfg.sensor_ops = a.recordings_per_batch, a.sensor_ops
    cfg.moco.far_negatives_s, cfg.moco.bn_splits = a.far_negatives, a.bn_splits
    return cfg


def add_arguments(p: argparse.ArgumentParser) -> None:
    """MoCo's flags; `--method` and the MAE flags (``mae_pretrain.add_arguments``) come with them."""
    from imuedge.train import mae_pretrain

    d = PretrainConfig()
    p.add_argument("--method", default="moco", choices=["moco", "mae"],
                   help="moco: IMG2IMU (MoCo v2 on spectrogram images); mae: a masked autoencoder on raw "
                        "windows (train/mae.py). Default: %(default)s")
    p.add_argument("--backbone", default=d.backbone, choices=["edge", "resnet18"],
                   help="vision backbone: 'edge' (small, the default and the shipped one) or 'resnet18'")
    p.add_argument("--sources", default=d.sources,
                   help="'+'-joined image sources: procedural (built-in synthetic images, no download), "
                        "folder (--image-folder), imu (--imu-windows). Default: %(default)s")
    p.add_argument("--image-folder", default="", help="folder of png/jpg images (searched recursively)")
    p.add_argument("--imu-windows", default="",
                   help="unlabelled IMU windows for the 'imu' source: 'hapt-train' (windows every 0.32 s over the "
                        "whole recordings of the default split's HAPT training subjects, labels unused) or an .npz "
                        "with x (N,C,T) and channels (plus recording, start and sample_rate_hz for neighbour "
                        "positives; `imuedge.train.image_sources.save_imu_windows` writes one from a WindowSet)")
    add_recipe_arguments(p, d)
    p.add_argument("--augment", default=d.augment, choices=["sensor", "mocov2"],
                   help="positive-view augmentations: sensor-aware (IMG2IMU) or the standard MoCo v2 set")
    p.add_argument("--steps", type=int, default=None, help=f"optimizer steps (default {d.steps}; mae: 2000)")
    p.add_argument("--batch-size", type=int, default=None,
                   help=f"images per step per rank (default {d.batch_size}; mae: windows per step, 128)")
    p.add_argument("--lr", type=float, default=None,
                   help=f"peak learning rate, cosine decay after warm-up (default: SGD {d.lr}; mae: AdamW 1e-3)")
    p.add_argument("--queue", type=int, default=d.moco.queue_size, help="MoCo queue length (keys)")
    p.add_argument("--temperature", type=float, default=d.moco.temperature, help="InfoNCE temperature")
    p.add_argument("--momentum", type=float, default=d.moco.momentum,
                   help="key-encoder momentum (0.999 for long runs; ~0.99 for schedules of a few thousand steps)")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed")
    p.add_argument("--out", default=None,
                   help=f"output folder: last.pt (resumable), encoder.pt, metrics.jsonl (default {d.out}; "
                        f"mae: runs/mae)")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help=f"steps between checkpoints (default {d.checkpoint_every}; mae: 200)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--device", default=d.device,
                   help="auto (a CUDA GPU when there is one, else the CPU), cpu, cuda or cuda:N; under torchrun "
                        "each rank takes GPU LOCAL_RANK")
    p.add_argument("--workers", type=int, default=d.workers,
                   help="DataLoader processes drawing procedural images (0: in the training process; use a few "
                        "on a GPU, where one CPU core cannot keep up)")
    mae_pretrain.add_arguments(p)


def config_from_args(a: argparse.Namespace) -> PretrainConfig:
    d = PretrainConfig()
    pick = lambda v, default: default if v is None else v  # noqa: E731 - flags MAE shares, default None
    cfg = PretrainConfig(backbone=a.backbone, sources=a.sources, image_folder=a.image_folder,
                         imu_windows=a.imu_windows, augment=a.augment, steps=pick(a.steps, d.steps),
                         batch_size=pick(a.batch_size, d.batch_size), lr=pick(a.lr, d.lr), seed=a.seed,
                         out=pick(a.out, d.out), checkpoint_every=pick(a.checkpoint_every, d.checkpoint_every),
                         threads=a.threads, device=a.device, workers=a.workers)
    cfg.moco.queue_size = a.queue
    cfg.moco.momentum = a.momentum
    cfg.moco.temperature = a.temperature
    return apply_recipe_arguments(cfg, a)


def run_method(a: argparse.Namespace) -> Path:
    """`imuedge pretrain`: MoCo (IMG2IMU) or, with --method mae, a masked autoencoder."""
    if a.method == "mae":
        from imuedge.train import mae_pretrain

        return mae_pretrain.pretrain(mae_pretrain.config_from_args(a))
    return pretrain(config_from_args(a))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m imuedge.train.pretrain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    path = run_method(p.parse_args(argv))
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"[pretrain] encoder checkpoint: {path}")
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
