"""Train the VQ (TimeVQVDM-style) generator in two stages: `imuedge diffusion vqvae`, then `imuedge diffusion vqprior`.

    imuedge diffusion vqvae --out runs/vq --steps 1500 --threads 1                     # stage 1: OUT/vqvae.pt
    imuedge diffusion vqprior --vqvae runs/vq/vqvae.pt --out runs/vq --steps 2000      # stage 2: OUT/vq.pt
    imuedge diffusion export --generator runs/vq/vq.pt --steps 10 --guidance 1.5 --out runs/vq-bundles

Data as the latent generator's (``latent_train.hapt_windows``): the labelled windows of
HAPT's training subjects (split seed 0; ``--subjects`` keeps some), six basic activities,
128 samples at 50 Hz. Stage 1 trains both bands' VQ-VAEs (``vqvae.py``: reconstruction +
codebook/commitment loss; codes unused for ``--restart-every`` steps are restarted on
tokens of the batch), then standardises the quantized tokens. Stage 2 freezes the VQ-VAE
and trains the LF and HF priors (``vq_prior.py``) together on the training windows'
tokens (v-loss, class dropout for guidance, EMA weights for sampling). Each stage writes
OUT/vqvae_last.pt or OUT/vq_last.pt atomically every ``--checkpoint-every`` steps
(weights, EMA, optimiser, RNG, the code-usage counts); re-running the same command resumes
from it. CPU only (``--threads``).
"""
from __future__ import annotations

import argparse
import time
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path

import torch

from imuedge import checkpoint
from imuedge.train.diffusion.latent_train import (RunConfig, WindowsRunConfig, _positive, _subjects,
                                                  add_run_arguments, given_windows, hapt_windows, header, load_state,
                                                  optimise, resume)
from imuedge.train.diffusion.model import ema_update, model_from_checkpoint
from imuedge.train.diffusion.vq_prior import VQDiffusion, VQPriorConfig, vq_model
from imuedge.train.diffusion.vqvae import BANDS, VQVAE, VQVAEConfig

VQVAE_KIND, VQ_KIND = "vq_vae", "vq_diffusion"


@dataclass
class VQVAETrainConfig(WindowsRunConfig):
    out: str = "runs/vq"
    restart_every: int = 100  # dead-code restarts: codes no token chose in this many steps
    vqvae: VQVAEConfig = field(default_factory=VQVAEConfig)


@dataclass
class VQPriorTrainConfig(RunConfig):
    out: str = "runs/vq"
    lr: float = 5e-4
    vqvae: str = "runs/vq/vqvae.pt"
    ema: float = 0.999
    model: VQPriorConfig = field(default_factory=VQPriorConfig)


def prepare(threads: int, out: str) -> Path:
    if threads:
        torch.set_num_threads(threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


# ---------------------------------------------------------------- stage 1: the two VQ-VAEs
def load_vqvae(path) -> tuple[VQVAE, dict]:
    vqvae, ckpt = model_from_checkpoint(path, VQVAE_KIND, "a VQ-VAE (imuedge diffusion vqvae)", "the VQ-VAE",
                                        load_state, build=lambda config: VQVAE(VQVAEConfig(**config)))
    return vqvae.eval(), ckpt


def train_vqvae(cfg: VQVAETrainConfig, quiet: bool = False, windows=None) -> Path:
    """Train (or resume) both bands' VQ-VAEs; OUT/vqvae.pt. ``windows``: (x, y, class names, channels,
    description) to train on instead of the HAPT training subjects' windows (``y`` is not used)."""
    out = prepare(cfg.threads, cfg.out)
    xs, _, names, channels, data = given_windows(windows) if windows else hapt_windows(cfg.split_seed, cfg.subjects,
                                                                                      cfg.hop)
    source = None if windows else {"split_seed": cfg.split_seed, "subjects": list(cfg.subjects), "hop": cfg.hop}
    cfg.vqvae.channels, cfg.vqvae.samples = len(channels), xs.shape[-1]
    torch.manual_seed(cfg.seed)
    vqvae = VQVAE(cfg.vqvae)
    vqvae.fit(xs)
    opt = torch.optim.AdamW(vqvae.parameters(), lr=cfg.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(cfg.seed)
    used = {b: torch.zeros(cfg.vqvae.codes, dtype=torch.int64) for b in BANDS}  # code use since the last restart
    last = out / "vqvae_last.pt"
    step, seconds, ckpt = resume(last, vqvae, opt, gen, quiet, "vqvae")
    restarted = {b: 0 for b in BANDS}
    if ckpt is not None:
        used, restarted = ckpt["train_state"]["used"], dict(ckpt["codes_restarted"])
    window = {"channels": list(channels), "sample_rate_hz": 50.0, "window": int(xs.shape[-1]), "hop": cfg.hop}

    def save(path, with_state: bool, elapsed: float, step: int):
        obj = header(VQVAE_KIND, "vqvae", cfg.vqvae.to_dict(), window, names, cfg, step, elapsed, data)
        obj["state_dict"] = vqvae.state_dict()
        obj["windows"] = source  # the HAPT windows it trained on (None: windows given in code)
        obj["codes_restarted"] = dict(restarted)
        if with_state:
            obj["train_state"] = {"model": vqvae.state_dict(), "optimizer": opt.state_dict(), "rng": gen.get_state(),
                                  "step": step, "used": used}
        return checkpoint.save(obj, path)

    batch = {}

    def loss_fn(step):
        batch["x"] = xs[torch.randint(0, len(xs), (cfg.batch_size,), generator=gen)]
        loss, batch["parts"], batch["codes"] = vqvae.forward_loss(batch["x"])
        return loss

    def after_step(step):
        for b in BANDS:
            used[b] += torch.bincount(batch["codes"][b].flatten(), minlength=cfg.vqvae.codes)
        if (step + 1) % cfg.restart_every == 0:
            restart_dead_codes(vqvae, batch["x"], used, restarted, gen)
        p = batch["parts"]
        return {"lf": f"{p['lf_recon']:.3f}", "hf": f"{p['hf_recon']:.3f}", "vq": f"{p['lf_vq'] + p['hf_vq']:.3f}"}

    vqvae.train()
    step, t0 = optimise("vqvae", vqvae.parameters(), opt, cfg, step, seconds, loss_fn, after_step,
                        lambda step, elapsed: save(last, True, elapsed, step), quiet)
    vqvae.eval()
    vqvae.fit_latent(xs)
    path = save(out / "vqvae.pt", False, time.time() - t0, step)
    if not quiet:
        print(f"[diffusion vqvae] {step} steps in {time.time() - t0:.0f} s, codes restarted {restarted} -> {path}",
              flush=True)
    return path


def restart_dead_codes(vqvae: VQVAE, x: torch.Tensor, used: dict, restarted: dict, gen: torch.Generator) -> None:
    """Each band: codes no token chose since the last restart move onto this batch's tokens; counts reset."""
    with torch.no_grad():
        for b, band in zip(BANDS, vqvae.bands.split(x)):
            part = vqvae.band(b)
            restarted[b] += part.vq.restart(used[b] == 0, part.tokens(band), gen)
            used[b].zero_()


# ---------------------------------------------------------------- stage 2: the LF and HF priors
def load_vq(path) -> tuple[VQDiffusion, dict]:
    """The EMA VQ diffusion model (both priors and the VQ-VAE) of a checkpoint (eval mode) and the checkpoint."""
    model, ckpt = model_from_checkpoint(path, VQ_KIND, "a VQ diffusion model (imuedge diffusion vqprior)",
                                        "the VQ diffusion model", load_state,
                                        build=vq_model)
    return model.eval(), ckpt


def train_vqprior(cfg: VQPriorTrainConfig, quiet: bool = False, windows=None, init: str = "") -> Path:
    """Train (or resume) the LF and HF priors on the VQ-VAE's tokens; OUT/vq.pt. ``windows``: (x, y, class names,
    channels, description) to train on instead of the VQ-VAE's own HAPT windows (a y of ``len(names)``, the null
    class, is a window without a label); ``init``: a VQ checkpoint (of the same VQ-VAE) whose priors to start from."""
    vqvae, vq_ckpt = load_vqvae(cfg.vqvae)
    if windows:
        xs, ys, names, channels, data = given_windows(windows)
        source = None
    else:
        tc = vq_ckpt["train"]["config"]
        source = vq_ckpt.get("windows", {k: tc[k] for k in ("split_seed", "subjects", "hop")})
        if source is None:
            raise ValueError(f"{cfg.vqvae}: a VQ-VAE trained on windows given in code; train the priors on "
                             f"windows given the same way")
        xs, ys, names, channels, data = hapt_windows(source["split_seed"], tuple(source["subjects"]), source["hop"])
    out = prepare(cfg.threads, cfg.out)
    cfg.model.class_names, cfg.model.channels, cfg.model.vqvae = names, channels, vqvae.config
    torch.manual_seed(cfg.seed)
    model = VQDiffusion(cfg.model, vqvae)
    if init:
        start, _ = load_vq(init)
        if any(not torch.equal(a, b) for a, b in zip(start.vqvae.state_dict().values(), vqvae.state_dict().values())):
            raise ValueError(f"--init {init}: a VQ model of another VQ-VAE than {cfg.vqvae}")
        model.lf.load_state_dict(start.lf.state_dict())
        model.hf.load_state_dict(start.hf.state_dict())
    priors = torch.nn.ModuleDict({"lf": model.lf, "hf": model.hf})
    ema = deepcopy(model).eval()
    opt = torch.optim.AdamW(priors.parameters(), lr=cfg.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(cfg.seed)
    last = out / "vq_last.pt"
    step, seconds, ckpt = resume(last, priors, opt, gen, quiet, "vqprior")
    if ckpt is not None:
        ema.load_state_dict(ckpt["state_dict"])
    with torch.no_grad():
        zs = torch.cat([vqvae.encode(xs[i:i + 512]) for i in range(0, len(xs), 512)])
    data += f"; VQ-VAE {cfg.vqvae}"

    def save(path, with_state: bool, elapsed: float, step: int):
        obj = header(VQ_KIND, "vq_diffusion", cfg.model.to_dict(), vq_ckpt["window"], names, cfg, step, elapsed,
                     data)
        obj["state_dict"] = ema.state_dict()
        obj["windows"] = source  # the HAPT windows it trained on, for distillation (None: given in code)
        if with_state:
            obj["train_state"] = {"model": priors.state_dict(), "optimizer": opt.state_dict(),
                                  "rng": gen.get_state(), "step": step}
        return checkpoint.save(obj, path)

    parts = {}

    def loss_fn(step):
        idx = torch.randint(0, len(zs), (cfg.batch_size,), generator=gen)
        parts["loss"] = model.loss(zs[idx], ys[idx], generator=gen)
        return parts["loss"]

    def after_step(step):
        ema_update(torch.nn.ModuleList([ema.lf, ema.hf]), priors, step, cfg.ema)
        return {"loss": f"{parts['loss'].item():.4f}"}

    model.train()
    step, t0 = optimise("vqprior", priors.parameters(), opt, cfg, step, seconds, loss_fn, after_step,
                        lambda step, elapsed: save(last, True, elapsed, step), quiet)
    path = save(out / "vq.pt", False, time.time() - t0, step)
    if not quiet:
        print(f"[diffusion vqprior] {step} steps in {time.time() - t0:.0f} s -> {path}", flush=True)
    return path


# ---------------------------------------------------------------- command lines
def add_vqvae_arguments(p: argparse.ArgumentParser) -> None:
    d = VQVAETrainConfig()
    add_run_arguments(p, d, "vqvae_last.pt for resuming, vqvae.pt at the end", "windows")
    p.add_argument("--subjects", default="", help="comma-separated training subjects to keep (default: all)")
    p.add_argument("--lf-bins", type=int, default=d.vqvae.lf_bins, help="STFT bins of the low band (from bin 0)")
    p.add_argument("--width", type=int, default=d.vqvae.width, help="convolution width")
    p.add_argument("--dim", type=int, default=d.vqvae.dim, help="token dimension d")
    p.add_argument("--codes", type=int, default=d.vqvae.codes, help="codebook size K (per band)")
    p.add_argument("--restart-every", type=int, default=d.restart_every,
                   help="steps after which codes no token chose are restarted on tokens of the batch")


def vqvae_config_from_args(a: argparse.Namespace) -> VQVAETrainConfig:
    cfg = VQVAETrainConfig(out=a.out, steps=a.steps, batch_size=a.batch_size, lr=a.lr, seed=a.seed,
                           subjects=_subjects(a.subjects), restart_every=a.restart_every,
                           checkpoint_every=a.checkpoint_every, threads=a.threads,
                           vqvae=VQVAEConfig(lf_bins=a.lf_bins, width=a.width, dim=a.dim, codes=a.codes))
    _positive(cfg.steps, cfg.batch_size, cfg.checkpoint_every, cfg.restart_every, a.width, a.dim, a.codes)
    return cfg


def add_vqprior_arguments(p: argparse.ArgumentParser) -> None:
    d = VQPriorTrainConfig()
    p.add_argument("--vqvae", default=d.vqvae, help="stage 1's checkpoint (imuedge diffusion vqvae)")
    add_run_arguments(p, d, "vq_last.pt for resuming, vq.pt at the end", "token sequences")
    p.add_argument("--ema", type=float, default=d.ema, help="EMA decay of the weights samplers use")
    p.add_argument("--width", type=int, default=d.model.width, help="transformer width (each prior)")
    p.add_argument("--depth", type=int, default=d.model.depth, help="transformer blocks (each prior)")
    p.add_argument("--cond-drop", type=float, default=d.model.cond_drop, help="class dropout for guidance")
    p.add_argument("--rescale", type=float, default=d.model.rescale,
                   help="sampling default: guidance rescaling phi in [0, 1] (Lin et al. 2024; 0: off)")
    p.add_argument("--halt", type=float, default=d.model.halt,
                   help="sampling default: halt the reverse process this far, in (0, 1] (TimeVQVDM: 0.99)")


def vqprior_config_from_args(a: argparse.Namespace) -> VQPriorTrainConfig:
    if not 0.0 <= a.rescale <= 1.0:
        raise ValueError(f"--rescale must be in [0, 1], got {a.rescale}")
    if not 0.0 < a.halt <= 1.0:
        raise ValueError(f"--halt must be in (0, 1], got {a.halt}")
    cfg = VQPriorTrainConfig(vqvae=a.vqvae, out=a.out, steps=a.steps, batch_size=a.batch_size, lr=a.lr, ema=a.ema,
                             seed=a.seed, checkpoint_every=a.checkpoint_every, threads=a.threads,
                             model=VQPriorConfig(width=a.width, depth=a.depth, cond_drop=a.cond_drop,
                                                 rescale=a.rescale, halt=a.halt))
    _positive(cfg.steps, cfg.batch_size, cfg.checkpoint_every, a.width, a.depth)
    return cfg
