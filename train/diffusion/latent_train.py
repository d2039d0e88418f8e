"""Train the latent (TimeLDM-style) generator in two stages: `imuedge diffusion vae`, then `imuedge diffusion latent`.

    imuedge diffusion vae --out runs/ldm --steps 3000 --threads 1              # stage 1: OUT/vae.pt
    imuedge diffusion latent --vae runs/ldm/vae.pt --out runs/ldm --steps 3000 # stage 2: OUT/latent.pt
    imuedge diffusion export --student runs/ldm/latent.pt --steps 10 --guidance 1.5 --out runs/ldm-bundles

Data as ``imuedge diffusion train``: the labelled windows of HAPT's training subjects
(split seed 0; ``--subjects`` keeps some), six basic activities, 128 samples at 50 Hz.
Stage 1 trains the VAE (L1 + L2 + FFT reconstruction, KL weight adapted by
``AdaptiveBeta``), then standardises its latent by the training windows' posterior
means. Stage 2 freezes the VAE and trains the latent transformer (v-loss, class
dropout for guidance, EMA weights for sampling). Each stage writes OUT/vae_last.pt or
OUT/latent_last.pt atomically every ``--checkpoint-every`` steps (weights, EMA,
optimiser, RNG, the adaptive beta's state); re-running the same command resumes from it.
CPU only (``--threads``); the STFT teacher's trainer has the --device / DDP path.
"""
from __future__ import annotations

import argparse
import time
from copy import deepcopy
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from imuedge import checkpoint
from imuedge.train.diffusion.adaptive_beta import AdaptiveBeta, AdaptiveBetaConfig
from imuedge.train.diffusion.latent import LatentConfig, LatentDiffusion, latent_model
from imuedge.train.diffusion.model import ema_update, model_from_checkpoint
from imuedge.train.diffusion.train import TrainConfig, lr_at, training_windows
from imuedge.train.diffusion.vae import VAEConfig, WindowVAE

VAE_KIND, LATENT_KIND = "diffusion_vae", "latent_diffusion"


@dataclass
class RunConfig:
    """What every stage's run has (``add_run_arguments`` reads these from a command line)."""
    out: str = "runs/ldm"
    steps: int = 3000
    batch_size: int = 64
    lr: float = 1e-3
    warmup: int = 100
    seed: int = 0
    checkpoint_every: int = 250
    threads: int = 0


@dataclass
class WindowsRunConfig(RunConfig):
    """A first stage's run: it reads the HAPT training windows itself (``hapt_windows``)."""
    split_seed: int = 0
    subjects: tuple[int, ...] = ()
    hop: int = 16


@dataclass
class VAETrainConfig(WindowsRunConfig):
    vae: VAEConfig = field(default_factory=VAEConfig)
    beta: AdaptiveBetaConfig = field(default_factory=AdaptiveBetaConfig)


@dataclass
class LatentTrainConfig(RunConfig):
    lr: float = 5e-4
    vae: str = "runs/ldm/vae.pt"
    ema: float = 0.999
    model: LatentConfig = field(default_factory=LatentConfig)


def hapt_windows(split_seed: int, subjects: tuple[int, ...], hop: int):
    x, y, names, channels = training_windows(TrainConfig(split_seed=split_seed, subjects=tuple(subjects), hop=hop))
    data = f"UCI HAPT training subjects (split seed {split_seed})" + \
        (f", subjects {list(subjects)}" if subjects else "") + f", {len(x)} windows"
    return torch.from_numpy(x), torch.from_numpy(np.asarray(y, np.int64)), names, channels, data


def header(kind: str, name: str, config: dict, window: dict, names, cfg, step: int, seconds: float, data: str) -> dict:
    return {"kind": kind, "model": {"name": name, "config": config}, "window": window,
            "label_names": {str(i): n for i, n in enumerate(names)},
            "train": {"config": asdict(cfg), "step": step, "seconds": round(seconds, 1)},
            "provenance": checkpoint.provenance(seed=cfg.seed, data=data)}


def resume(last: Path, net: torch.nn.Module, opt, gen: torch.Generator, quiet: bool, name: str):
    """Load OUT/*_last.pt into net / opt / gen if it exists; (step, seconds, checkpoint or None)."""
    if not last.exists():
        return 0, 0.0, None
    ckpt = checkpoint.load(last)
    st = ckpt["train_state"]
    net.load_state_dict(st["model"])
    opt.load_state_dict(st["optimizer"])
    gen.set_state(st["rng"])
    if not quiet:
        print(f"[diffusion {name}] resuming from {last} at step {st['step']}", flush=True)
    return int(st["step"]), float(ckpt["train"]["seconds"]), ckpt


def optimise(stage: str, params, opt, cfg, step: int, seconds: float, loss_fn, after_step, save,
             quiet: bool) -> tuple[int, float]:
    """The stages' loop from ``step`` to ``cfg.steps``: the learning rate of the step (warm-up, cosine),
    ``loss_fn(step)`` -> loss, backward, gradient clipping at 1, the optimiser step, ``after_step(step)`` (EMA,
    KL weight, code restarts; returns the progress bar's postfix), and ``save(step, elapsed)`` every
    ``cfg.checkpoint_every`` steps and at the last. Returns (steps done, start time)."""
    params = list(params)
    bar = tqdm(total=cfg.steps, initial=step, desc=f"diffusion {stage}", disable=quiet, leave=False)
    t0 = time.time() - seconds
    while step < cfg.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        loss = loss_fn(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        postfix = after_step(step)
        step += 1
        bar.update(1)
        bar.set_postfix(postfix)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            save(step, time.time() - t0)
    bar.close()
    return step, t0


# ---------------------------------------------------------------- stage 1: the VAE
def load_state(model: torch.nn.Module, ckpt: dict) -> None:
    model.load_state_dict(ckpt["state_dict"])


def load_vae(path) -> tuple[WindowVAE, dict]:
    vae, ckpt = model_from_checkpoint(path, VAE_KIND, "a VAE (imuedge diffusion vae)", "the VAE", load_state,
                                      build=lambda config: WindowVAE(VAEConfig(**config)))
    return vae.eval(), ckpt


def given_windows(windows):
    """``(x, y, class names, channels, description)`` given in code (numpy or torch) as the stages take them."""
    x, y, names, channels, data = windows
    return (torch.as_tensor(np.asarray(x, np.float32)), torch.as_tensor(np.asarray(y, np.int64)), tuple(names),
            tuple(channels), data)


def train_vae(cfg: VAETrainConfig, quiet: bool = False, windows=None) -> Path:
    """Train (or resume) the VAE; OUT/vae.pt. ``windows``: (x, y, class names, channels, description) to train
    on instead of the HAPT training subjects' windows (``y`` is not used: the VAE needs no label)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    xs, _, names, channels, data = given_windows(windows) if windows else hapt_windows(cfg.split_seed, cfg.subjects,
                                                                                      cfg.hop)
    source = None if windows else {"split_seed": cfg.split_seed, "subjects": list(cfg.subjects), "hop": cfg.hop}
    cfg.vae.channels, cfg.vae.samples = len(channels), xs.shape[-1]
    torch.manual_seed(cfg.seed)
    vae = WindowVAE(cfg.vae)
    vae.fit(xs)
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(cfg.seed)
    beta = AdaptiveBeta(cfg.beta)
    last = out / "vae_last.pt"
    step, seconds, ckpt = resume(last, vae, opt, gen, quiet, "vae")
    if ckpt is not None:
        beta.load_state_dict(ckpt["train_state"]["beta"])
    window = {"channels": list(channels), "sample_rate_hz": 50.0, "window": int(xs.shape[-1]), "hop": cfg.hop}

    def save(path, with_state: bool, elapsed: float, step: int):
        obj = header(VAE_KIND, "window_vae", asdict(cfg.vae), window, names, cfg, step, elapsed, data)
        obj["state_dict"] = vae.state_dict()
        obj["windows"] = source  # the HAPT windows it trained on (None: windows given in code)
        obj["beta"] = beta.state_dict()
        if with_state:
            obj["train_state"] = {"model": vae.state_dict(), "optimizer": opt.state_dict(), "rng": gen.get_state(),
                                  "step": step, "beta": beta.state_dict()}
        return checkpoint.save(obj, path)

    parts = {}

    def loss_fn(step):
        idx = torch.randint(0, len(xs), (cfg.batch_size,), generator=gen)
        loss, parts["now"] = vae.forward_loss(xs[idx], beta.value, generator=gen)
        return loss

    def after_step(step):
        p = parts["now"]
        beta.update(p["recon"])
        return {"recon": f"{p['recon']:.4f}", "kl": f"{p['kl']:.3f}", "beta": f"{p['beta']:.1e}"}

    vae.train()
    step, t0 = optimise("vae", vae.parameters(), opt, cfg, step, seconds, loss_fn, after_step,
                        lambda step, elapsed: save(last, True, elapsed, step), quiet)
    vae.eval()
    vae.fit_latent(xs)
    path = save(out / "vae.pt", False, time.time() - t0, step)
    if not quiet:
        print(f"[diffusion vae] {step} steps in {time.time() - t0:.0f} s, beta {beta.value:.2e} -> {path}",
              flush=True)
    return path


# ---------------------------------------------------------------- stage 2: the latent diffusion model
def load_latent(path) -> tuple[LatentDiffusion, dict]:
    """The EMA latent diffusion model of a checkpoint (eval mode) and the checkpoint."""
    model, ckpt = model_from_checkpoint(path, LATENT_KIND, "a latent diffusion model (imuedge diffusion latent)",
                                        "the latent diffusion model", load_state,
                                        build=latent_model)
    return model.eval(), ckpt


def train_latent(cfg: LatentTrainConfig, quiet: bool = False, windows=None, init: str = "") -> Path:
    """Train (or resume) the latent diffusion model on the VAE's latents; OUT/latent.pt. ``windows``: (x, y, class
    names, channels, description) to train on instead of the VAE's own HAPT windows (a y of ``len(names)``, the
    null class, is a window without a label); ``init``: a latent checkpoint (of the same VAE) to start from."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    vae, vae_ckpt = load_vae(cfg.vae)
    tc = vae_ckpt["train"]["config"]
    if windows:
        xs, ys, names, channels, data = given_windows(windows)
        source = None
    else:
        source = vae_ckpt.get("windows", {k: tc[k] for k in ("split_seed", "subjects", "hop")})
        if source is None:
            raise ValueError(f"{cfg.vae}: a VAE trained on windows given in code; train the latent model on "
                             f"windows given the same way")
        xs, ys, names, channels, data = hapt_windows(source["split_seed"], tuple(source["subjects"]), source["hop"])
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg.model.class_names, cfg.model.channels, cfg.model.vae = names, channels, vae.config
    torch.manual_seed(cfg.seed)
    model = LatentDiffusion(cfg.model, vae)
    if init:
        start, _ = load_latent(init)
        if not torch.equal(start.vae.decoder[-1].weight, vae.decoder[-1].weight):
            raise ValueError(f"--init {init}: a latent model of another VAE than {cfg.vae}")
        model.transformer.load_state_dict(start.transformer.state_dict())
    ema = deepcopy(model).eval()
    opt = torch.optim.AdamW(model.transformer.parameters(), lr=cfg.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(cfg.seed)
    last = out / "latent_last.pt"
    step, seconds, ckpt = resume(last, model.transformer, opt, gen, quiet, "latent")
    if ckpt is not None:
        ema.load_state_dict(ckpt["state_dict"])
    with torch.no_grad():
        zs = torch.cat([vae.encode(xs[i:i + 512]) for i in range(0, len(xs), 512)])
    data += f"; VAE {cfg.vae}"

    def save(path, with_state: bool, elapsed: float, step: int):
        obj = header(LATENT_KIND, "latent_diffusion", cfg.model.to_dict(), vae_ckpt["window"], names, cfg, step,
                     elapsed, data)
        obj["state_dict"] = ema.state_dict()
        obj["windows"] = source  # the HAPT windows it trained on, for distillation (None: given in code)
        if with_state:
            obj["train_state"] = {"model": model.transformer.state_dict(), "optimizer": opt.state_dict(),
                                  "rng": gen.get_state(), "step": step}
        return checkpoint.save(obj, path)

    def loss_fn(step):
        idx = torch.randint(0, len(zs), (cfg.batch_size,), generator=gen)
        parts["loss"] = model.v_loss(zs[idx], ys[idx], generator=gen)
        return parts["loss"]

    def after_step(step):
        ema_update(ema.transformer, model.transformer, step, cfg.ema)
        return {"loss": f"{parts['loss'].item():.4f}"}

    parts = {}
    model.train()
    step, t0 = optimise("latent", model.transformer.parameters(), opt, cfg, step, seconds, loss_fn, after_step,
                        lambda step, elapsed: save(last, True, elapsed, step), quiet)
    path = save(out / "latent.pt", False, time.time() - t0, step)
    if not quiet:
        print(f"[diffusion latent] {step} steps in {time.time() - t0:.0f} s -> {path}", flush=True)
    return path


# ---------------------------------------------------------------- command lines
def add_run_arguments(p: argparse.ArgumentParser, d, files: str, items: str) -> None:
    """Every stage's options, defaults from its config ``d``: ``files`` names its checkpoints, ``items`` a batch's."""
    p.add_argument("--out", default=d.out, help=f"run folder ({files})")
    p.add_argument("--steps", type=int, default=d.steps, help="optimiser steps")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"{items} per step")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (warm-up, cosine)")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, help="steps between last.pt writes")
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (0: default)")


def add_vae_arguments(p: argparse.ArgumentParser) -> None:
    d = VAETrainConfig()
    add_run_arguments(p, d, "vae_last.pt for resuming, vae.pt at the end", "windows")
    p.add_argument("--subjects", default="", help="comma-separated training subjects to keep (default: all)")
    p.add_argument("--latent-channels", type=int, default=d.vae.latent_channels, help="latent channels")
    p.add_argument("--width", type=int, default=d.vae.width, help="convolution width")
    p.add_argument("--beta-patience", type=int, default=d.beta.patience,
                   help="steps without reconstruction improvement before the KL weight is multiplied by 0.7")


def vae_config_from_args(a: argparse.Namespace) -> VAETrainConfig:
    cfg = VAETrainConfig(out=a.out, steps=a.steps, batch_size=a.batch_size, lr=a.lr, seed=a.seed,
                         subjects=_subjects(a.subjects), checkpoint_every=a.checkpoint_every, threads=a.threads,
                         vae=VAEConfig(latent_channels=a.latent_channels, width=a.width),
                         beta=AdaptiveBetaConfig(patience=a.beta_patience))
    _positive(cfg.steps, cfg.batch_size, cfg.checkpoint_every, a.latent_channels, a.width)
    return cfg


def add_latent_arguments(p: argparse.ArgumentParser) -> None:
    d = LatentTrainConfig()
    p.add_argument("--vae", default=d.vae, help="stage 1's checkpoint (imuedge diffusion vae)")
    add_run_arguments(p, d, "latent_last.pt for resuming, latent.pt at the end", "latents")
    p.add_argument("--ema", type=float, default=d.ema, help="EMA decay of the weights samplers use")
    p.add_argument("--width", type=int, default=d.model.width, help="transformer width")
    p.add_argument("--depth", type=int, default=d.model.depth, help="transformer blocks")
    p.add_argument("--cond-drop", type=float, default=d.model.cond_drop, help="class dropout for guidance")


def latent_config_from_args(a: argparse.Namespace) -> LatentTrainConfig:
    cfg = LatentTrainConfig(vae=a.vae, out=a.out, steps=a.steps, batch_size=a.batch_size, lr=a.lr, ema=a.ema,
                            seed=a.seed, checkpoint_every=a.checkpoint_every, threads=a.threads,
                            model=LatentConfig(width=a.width, depth=a.depth, cond_drop=a.cond_drop))
    _positive(cfg.steps, cfg.batch_size, cfg.checkpoint_every, a.width, a.depth)
    return cfg


def _subjects(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise ValueError(f"--subjects must be comma-separated subject numbers, got {text!r}") from None


def _positive(*values: int) -> None:
    if min(values) <= 0:
        raise ValueError("--steps, --batch-size, --checkpoint-every and the model sizes must be positive")
