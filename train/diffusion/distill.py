"""Progressive distillation (Salimans & Ho 2022) of a diffusion generator into 4-, 2- and 1-step
students, and the student's sampling loop unrolled into one exportable graph.

    imuedge diffusion distill --teacher runs/teacher/teacher.pt --out runs/student     # the STFT teacher
    imuedge diffusion distill --teacher runs/ldm/latent.pt --out runs/ldm-student      # the latent model
    imuedge diffusion distill --teacher runs/vq/vq.pt --out runs/vq-student            # the VQ cascade

The teacher is any of ``TEACHERS``: the STFT-domain teacher (its UNet over the STFT planes),
the latent model (its transformer over the VAE's latents; the student decodes through the same
frozen VAE) or the VQ cascade (``Chain``: its LF prior and its HF prior are distilled side by
side, round by round, each into a student of the same steps; the HF one learns on the real LF
tokens it is conditioned on, as its teacher did; guidance with rescaling is folded into both;
the students run from t = 1, without the teacher's optional halt).

Round by round, a student with N/2 steps learns to do in one deterministic DDIM step
what its teacher does in two: from z_t, the teacher steps t -> t' -> t''; the
student's x0-prediction is trained towards the x~ for which one DDIM step t -> t''
lands on the teacher's z_t'':

    x~ = (z_t'' - (sigma_t''/sigma_t) z_t) / (alpha_t'' - (sigma_t''/sigma_t) alpha_t)

with the "truncated SNR" weight max(alpha^2/sigma^2, 1) on the x0 error (element-wise:
alphas are per plane here, one schedule per sensor). Each student starts from its
teacher's weights. The first teacher is the diffusion model with DDIM at
``start_steps`` steps and classifier-free guidance ``guidance``; its guided
prediction is the target, so the student folds the guidance weight in and runs one
network evaluation per step (class-conditional, no guidance input).

Why progressive rather than consistency distillation: with a v-parameterised teacher
it needs no new loss metric or boundary parameterisation, each round is a plain
regression on two teacher DDIM steps, and the rounds give the 4-, 2- and 1-step
students on the way for free. (Consistency distillation was not measured here.)
"""
from __future__ import annotations

import argparse
import copy
import importlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from imuedge import checkpoint
from imuedge.digest import sha256
from imuedge.train.diffusion.latent import latent_model
from imuedge.train.diffusion.model import check_guidance, diffusion_model, mix_guidance, model_from_checkpoint
from imuedge.train.diffusion.schedulers import NoiseSchedule, predict_x0_eps, sampling_timesteps, trailing_timesteps

KIND = "diffusion_student"


@dataclass
class DistillConfig:
    teacher: str = "runs/diffusion-teacher/teacher.pt"
    out: str = "runs/diffusion-student"
    start_steps: int = 16  # the first teacher: DDIM at this many steps
    keep: tuple[int, ...] = (4, 2, 1)  # students written (student_{n}.pt)
    guidance: float = 1.5  # folded into the students
    iterations: int = 600  # per round
    batch_size: int = 64
    lr: float = 1e-4
    seed: int = 0
    device: str = "cpu"
    threads: int = 0
    resume: str = ""  # a student_{n}.pt of this run: go on with the n -> n/2 round


def ddim_step(v: torch.Tensor, z: torch.Tensor, schedule: NoiseSchedule, t: torch.Tensor, t_prev: torch.Tensor):
    alpha, sigma = schedule.alpha_sigma(t, z)
    alpha_p, sigma_p = schedule.alpha_sigma(t_prev, z)
    x0, eps = predict_x0_eps(v, z, alpha, sigma)
    return alpha_p * x0 + sigma_p * eps


def draw_batch(gen: torch.Generator, n: int, steps: int, batch_size: int, plane_shape):
    """One iteration's random draws: window indices, which of the N/2 student steps, the noise."""
    idx = torch.randint(0, n, (batch_size,), generator=gen)
    i = torch.randint(0, steps // 2, (batch_size,), generator=gen)
    return idx, i, torch.randn((batch_size, *plane_shape), generator=gen)


def distill_round(teacher_v, student: nn.Module, schedule: NoiseSchedule, z0_all: torch.Tensor, y_all: torch.Tensor,
                  steps: int, cfg: DistillConfig, gen: torch.Generator, quiet: bool = False,
                  cond_all: torch.Tensor | None = None) -> nn.Module:
    """Train ``student`` (N/2 = ``steps`` // 2 steps) to match two DDIM steps of ``teacher_v(z, t, y, cond)``;
    ``cond_all``: the clean conditioning sequence of each training window, for a denoiser that reads one."""
    T = schedule.num_train_timesteps
    teacher_ts = torch.tensor(trailing_timesteps(T, steps) + [-1])
    opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=0.0)
    student.train()
    bar = tqdm(range(cfg.iterations), desc=f"distil {steps}->{steps // 2} steps", disable=quiet, leave=False)
    for _ in bar:
        idx, i, noise = draw_batch(gen, len(z0_all), steps, cfg.batch_size, z0_all.shape[1:])
        z0, y = z0_all[idx], y_all[idx]
        cond = None if cond_all is None else cond_all[idx]
        t, t_mid, t_next = teacher_ts[2 * i], teacher_ts[2 * i + 1], teacher_ts[2 * i + 2]
        alpha, sigma = schedule.alpha_sigma(t, z0)
        zt = alpha * z0 + sigma * noise
        with torch.no_grad():
            z_mid = ddim_step(teacher_v(zt, t, y, cond), zt, schedule, t, t_mid)
            z_next = ddim_step(teacher_v(z_mid, t_mid, y, cond), z_mid, schedule, t_mid, t_next)
            alpha_n, sigma_n = schedule.alpha_sigma(t_next, z0)
            ratio = sigma_n / sigma
            x_target = (z_next - ratio * zt) / (alpha_n - ratio * alpha)
        x_pred = alpha * zt - sigma * call(student, zt, t, y, cond)
        weight = (alpha ** 2 / sigma ** 2).clamp_min(1.0)
        loss = (weight * (x_pred - x_target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.4f}")
    return student.eval()


def call(net: nn.Module, z, t, y, cond=None):
    """A denoiser's v-prediction, with its conditioning sequence when it reads one."""
    return net(z, t, y) if cond is None else net(z, t, y, cond)


def as_teacher(net: nn.Module):
    """A (frozen) student as the next round's teacher: ``teacher_v(z, t, y, cond)``."""
    return lambda z, t, y, cond=None: call(net, z, t, y, cond)


@dataclass
class Chain:
    """One sampling chain to distil: the diffusion model whose schedule, guidance and denoiser it has, its
    training latents, and the clean sequence they are conditioned on (the VQ cascade's HF chain: the LF tokens)."""
    model: nn.Module
    z0: torch.Tensor
    cond: torch.Tensor | None = None


def chains(model, z0: torch.Tensor) -> list[Chain]:
    """The chains of a teacher: one (STFT, latent), or the VQ cascade's LF and HF priors."""
    if hasattr(model, "lf") and hasattr(model, "hf"):
        z_lf, z_hf = model.split(z0)
        return [Chain(model.lf, z_lf), Chain(model.hf, z_hf, z_lf)]
    return [Chain(model, z0)]


class WindowDecoder(nn.Module):
    """``space.decode`` (the STFT framing's or the VAE's: noise space -> physical window) as a layer of its
    own, so that exporters see it by name: int8 export keeps it float32."""

    def __init__(self, space):
        super().__init__()
        self.space = space

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.space.decode(z)


class UnrolledSampler(nn.Module):
    """A sampling loop as one graph: noise (B, *noise_shape) + class id (B,) -> window (B, C, T) in m/s^2 and
    rad/s. Deterministic DDIM with ``steps`` steps of ``denoiser`` (a student, or a teacher's own network),
    then ``model.space.decode`` (the STFT model's framing, the latent model's VAE decoder). ``guidance``:
    None when the denoiser has the guidance weight folded in (a distilled student), else the weight
    applied in the graph (two network evaluations per step, the second with the "no class" id), with
    ``rescale`` (``model.mix_guidance``). ``halt``: the reverse process halted that far
    (``schedulers.sampling_timesteps``; fewer steps may remain). The timestep embeddings and per-plane
    alphas are constants of the graph. ``run`` is the loop without the decoder (the VQ cascade chains two)."""

    def __init__(self, model, denoiser: nn.Module, steps: int, guidance: float | None = None,
                 rescale: float = 0.0, halt: float = 1.0):
        super().__init__()
        self.decoder = WindowDecoder(copy.deepcopy(model.space))
        self.denoiser = copy.deepcopy(denoiser).eval()
        self.noise_shape = tuple(model.noise_shape)
        self.guidance = None if guidance is None else check_guidance(guidance)
        self.rescale = float(rescale)
        ts = sampling_timesteps(model.schedule.num_train_timesteps, steps, halt)
        self.steps = steps = len(ts)
        like = torch.zeros(1, *self.noise_shape)
        with torch.no_grad():
            emb = self.denoiser.embed_time(torch.tensor(ts, dtype=torch.float32))  # (steps, E)
            null = self.denoiser.embed_class(torch.tensor([model.null_class]))  # (1, E)
        coef = []
        for k, t in enumerate(ts):
            a, s = model.schedule.alpha_sigma(t, like)
            ap, sp = model.schedule.alpha_sigma(ts[k + 1] if k + 1 < steps else -1, like)
            coef.append(torch.stack([a, s, ap, sp]))  # (4, 1, planes, 1, ...)
        self.register_buffer("time_embedding", emb)
        self.register_buffer("null_embedding", null)
        self.register_buffer("coef", torch.stack(coef).float())
        self.num_classes = model.num_classes

    def forward(self, noise: torch.Tensor, class_id: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.run(noise, class_id))

    def run(self, z: torch.Tensor, class_id: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """The unrolled DDIM loop from noise z to the clean estimate (``cond``: for a denoiser that reads one)."""
        c = self.denoiser.embed_class(class_id)
        for k in range(self.steps):
            a, s, ap, sp = self.coef[k]
            v = self.velocity(z, c, k, cond)
            z = ap * (a * z - s * v) + sp * (s * z + a * v)
        return z

    def velocity(self, z: torch.Tensor, c: torch.Tensor, k: int, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Step k's v-prediction; with in-graph guidance, conditional and unconditional in one batched call."""
        e = c + self.time_embedding[k:k + 1]
        extra = () if cond is None else (cond,)
        if self.guidance is None or self.guidance == 1.0:
            return self.denoiser.denoise(z, e, *extra)
        e_null = (self.null_embedding + self.time_embedding[k:k + 1]).expand_as(e)
        extra = () if cond is None else (torch.cat([cond, cond]),)
        v = self.denoiser.denoise(torch.cat([z, z]), torch.cat([e, e_null]), *extra)
        n = z.shape[0]  # slices, not chunk(2): chunk's size guard pins a dynamic batch to 2 in torch.export
        return mix_guidance(v[:n], v[n:], self.guidance, self.rescale)


# teacher kind -> (module and function that load it, row name prefix in reports); imported when used:
# vq_train imports this module through vq_prior.
TEACHERS = {"diffusion_teacher": ("imuedge.train.diffusion.train", "load_diffusion", ""),
            "latent_diffusion": ("imuedge.train.diffusion.latent_train", "load_latent", "latent "),
            "vq_diffusion": ("imuedge.train.diffusion.vq_train", "load_vq", "VQ ")}


def load_teacher(kind: str, path):
    """(model, checkpoint) of a teacher of kind ``kind`` (one of ``TEACHERS``), by its own loader."""
    module, name, _ = TEACHERS[kind]
    return getattr(importlib.import_module(module), name)(path)


def build_vq(config: dict):
    from imuedge.train.diffusion.vq_prior import vq_model  # imports this module: not at the top

    return vq_model(config)


# a student checkpoint's ckpt["model"]["name"] -> the builder of its teacher's model
BUILDERS = {"diffusion": diffusion_model, "latent_diffusion": latent_model, "vq_diffusion": build_vq}


def teacher_windows(path, ckpt: dict, model) -> tuple[np.ndarray, np.ndarray]:
    """The teacher's own training windows (x physical, y): its split seed, subjects and hop, from its
    checkpoint (a latent model's from its ``windows`` record, or for older ones its VAE checkpoint's)."""
    from imuedge.train.diffusion.train import TrainConfig, training_windows

    if ckpt["kind"] == "diffusion_teacher":
        tc = ckpt["train"]["config"]
        return training_windows(TrainConfig(split_seed=tc["split_seed"], subjects=tuple(tc["subjects"]),
                                            hop=tc["hop"], model=model.config))[:2]
    if "windows" in ckpt and ckpt["windows"] is None:
        raise ValueError(f"{path}: trained on windows given in code, not a HAPT split; distil it on the same "
                         f"windows (distill(cfg, windows=(x, y)))")
    tc = ckpt.get("windows")
    if tc is None:
        vae = Path(ckpt["train"]["config"].get("vae") or ckpt["train"]["config"]["vqvae"])
        if not vae.is_file():
            raise ValueError(f"{path}: its training windows are recorded only in its first stage's checkpoint "
                             f"{vae}, which is not there; run from the folder it was trained in")
        tc = checkpoint.load(vae)["train"]["config"]
    x, y = training_windows(TrainConfig(split_seed=tc["split_seed"], subjects=tuple(tc["subjects"]),
                                        hop=tc["hop"]))[:2]
    return x, y


def encode_windows(model, x: np.ndarray, batch: int | None = None) -> torch.Tensor:
    """The windows in the model's noise space (the STFT planes, or the VAE's standardised latents), in
    batches of ``batch`` windows (None: all at once)."""
    batch = batch or len(x)
    with torch.no_grad():
        return torch.cat([model.space.encode(torch.from_numpy(x[i:i + batch])) for i in range(0, len(x), batch)])


def save_student(path, model, students: list[nn.Module], steps: int, cfg: DistillConfig, teacher_ckpt: dict,
                 seconds: float) -> Path:
    """The students' weights (one per chain: the VQ cascade's as ``lf.*`` and ``hf.*``) beside the teacher's
    space (the STFT framing, the frozen VAE or VQ-VAE) and model spec."""
    student = students[0] if len(students) == 1 else nn.ModuleDict({"lf": students[0], "hf": students[1]})
    return checkpoint.save({
        "kind": KIND, "model": {"name": teacher_ckpt["model"]["name"], "config": model.config.to_dict()},
        "teacher_kind": teacher_ckpt["kind"],
        "state_dict": model.space.state_dict(), "student": student.state_dict(), "steps": steps,
        "guidance": cfg.guidance, "window": teacher_ckpt["window"], "label_names": teacher_ckpt["label_names"],
        "distill": {"config": asdict(cfg), "seconds": round(seconds, 1),
                    "teacher_sha256": sha256(cfg.teacher)},
        "provenance": checkpoint.provenance(seed=cfg.seed, data=teacher_ckpt.get("provenance", {}).get("data", ""))},
        path)


def load_student(path) -> tuple[nn.Module, dict]:
    """The unrolled student of a checkpoint (eval mode; the VQ cascade's two chains as a ``CascadeSampler``)
    and the checkpoint."""
    def load_weights(model, ckpt):
        model.space.load_state_dict(ckpt["state_dict"])
        if ckpt.get("teacher_kind") == "vq_diffusion":
            nn.ModuleDict({"lf": model.lf.denoiser, "hf": model.hf.denoiser}).load_state_dict(ckpt["student"])
        else:
            model.denoiser.load_state_dict(ckpt["student"])

    model, ckpt = model_from_checkpoint(path, KIND, "a distilled student", "the student", load_weights, BUILDERS)
    if ckpt.get("teacher_kind") == "vq_diffusion":
        from imuedge.train.diffusion.vq_prior import CascadeSampler

        return CascadeSampler(model, int(ckpt["steps"]), guidance=None, rescale=0.0, halt=1.0).eval(), ckpt
    return UnrolledSampler(model, model.denoiser, int(ckpt["steps"])).eval(), ckpt


def student_name(ckpt: dict) -> str:
    """The student's row name in reports: "student 4-step" (STFT), "latent student 4-step", "VQ student 4-step"."""
    prefix = TEACHERS.get(ckpt.get("teacher_kind", "diffusion_teacher"), (None, None, ""))[2]
    return f"{prefix}student {int(ckpt['steps'])}-step"


STUDENT_METHOD = "progressive distillation (Salimans & Ho 2022), deterministic DDIM steps, " \
                 "v-parameterisation, guidance folded in"
LATENT_METHOD = "latent diffusion (TimeLDM-style): deterministic DDIM over the VAE's standardised latent, " \
                "v-parameterisation, classifier-free guidance in the graph (2 network evaluations per step), " \
                "then the VAE decoder"
VQ_METHOD = "vector-quantized LF/HF diffusion (TimeVQVDM-style): deterministic DDIM over the LF tokens, then over " \
            "the HF tokens given them (cascade), classifier-free guidance in the graph with rescaling, then both " \
            "bands' VQ-VAE decoders (nearest codes) added"
TEACHER_METHOD = "the STFT-domain teacher: deterministic DDIM, v-parameterisation, classifier-free guidance in the " \
                 "graph (2 network evaluations per step), then the inverse STFT"


def load_sampler(path, steps: int | None = None, guidance: float | None = None) -> tuple[UnrolledSampler, dict, dict]:
    """Any generator checkpoint as an unrolled sampler, its checkpoint, and the manifest's ``sampler`` block:
    a distilled student (its own steps, guidance folded in; ``steps`` / ``guidance`` must be left out), or a
    latent diffusion model or STFT teacher (DDIM with ``steps`` (default 10), guidance ``guidance``
    (default 1.5) in the graph), or a VQ diffusion model (the same, as a cascade, with its own rescale and halt)."""
    kind = checkpoint.load(path).get("kind")
    if kind in TEACHERS:
        steps, guidance = steps or 10, 1.5 if guidance is None else guidance
        model, ckpt = load_teacher(kind, path)
        if kind == "vq_diffusion":
            from imuedge.train.diffusion.vq_prior import CascadeSampler

            sampler = CascadeSampler(model, steps, guidance).eval()
            how = {"method": VQ_METHOD, "rescale": model.config.rescale, "halt": model.config.halt}
        else:
            sampler = UnrolledSampler(model, model.denoiser, steps, guidance).eval()
            how = {"method": TEACHER_METHOD if kind == "diffusion_teacher" else LATENT_METHOD}
        return sampler, ckpt, {"steps": sampler.steps, "guidance": float(guidance), **how,
                               **space_info(ckpt, sampler.noise_shape)}
    if steps is not None or guidance is not None:
        raise ValueError(f"{path}: a distilled student has its own steps and guidance; --steps and --guidance "
                         f"are for a teacher or latent diffusion checkpoint")
    sampler, ckpt = load_student(path)
    teacher = {"latent_diffusion": "the latent model",
               "vq_diffusion": "the VQ cascade (LF and HF chains, rescaled guidance folded in)"}.get(
        ckpt.get("teacher_kind"), "the STFT teacher")
    return sampler, ckpt, {"steps": int(ckpt["steps"]), "guidance": float(ckpt["guidance"]),
                           "method": f"{STUDENT_METHOD}, of {teacher}", **space_info(ckpt, sampler.noise_shape)}


def space_info(ckpt: dict, noise_shape) -> dict:
    """The manifest's description of a generator's noise space (the STFT planes, or the (VQ-)VAE's latents of
    the sampler's ``noise_shape``)."""
    config = ckpt["model"]["config"]
    if "vqvae" in config:
        return {"latent": list(noise_shape), "vqvae": config["vqvae"],
                "noise_layout": "(batch, LF token dims then HF token dims, token positions)"}
    if "vae" in config:
        return {"latent": list(noise_shape), "vae": config["vae"],
                "noise_layout": "(batch, latent channels, latent positions)"}
    carried = "; the imaginary DC row carries the window's channel means" if config["framing"].get("window_mean") else ""
    return {"framing": config["framing"],
            "noise_layout": f"(batch, 2 x channels [real, imaginary{carried}], STFT bins, frames)"}


def distill(cfg: DistillConfig, quiet: bool = False, windows=None) -> dict[int, Path]:
    """Progressive distillation rounds from ``cfg.start_steps``; the students in ``cfg.keep``. ``windows``:
    (x, y) to distil on instead of the teacher's own training windows."""
    check_guidance(cfg.guidance)
    if cfg.start_steps < 2 or cfg.start_steps & (cfg.start_steps - 1):
        raise ValueError(f"--start-steps must be a power of two >= 2, got {cfg.start_steps}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    kind = checkpoint.load(cfg.teacher).get("kind")
    if kind not in TEACHERS:
        raise ValueError(f"--teacher {cfg.teacher}: a {kind!r} checkpoint; distillation takes "
                         f"{', '.join(sorted(TEACHERS))}")
    model, ckpt = load_teacher(kind, cfg.teacher)
    x, y = windows or teacher_windows(cfg.teacher, ckpt, model)
    # the STFT planes in one call, as the shipped students were distilled; a (VQ-)VAE's latents in batches
    z0 = encode_windows(model, x, None if kind == "diffusion_teacher" else 512)
    ys = torch.from_numpy(np.asarray(y, np.int64))
    todo = chains(model, z0)
    if cfg.resume and len(todo) > 1:
        raise ValueError(f"--resume {cfg.resume}: the VQ cascade's distillation does not resume; run it again")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    rescale = getattr(model.config, "rescale", 0.0)  # the VQ cascade's guidance rescaling, folded in too
    teachers = [(lambda m: lambda z, t, c, cond=None: m.guided(z, t, c, cfg.guidance, cond, rescale))(ch.model)
                for ch in todo]
    steps, current, written, t0 = cfg.start_steps, [ch.model.denoiser for ch in todo], {}, time.time()
    if cfg.resume:
        steps, resumed = resume_from(cfg, model, z0, gen)
        current, teachers = [resumed], [as_teacher(resumed)]
    while steps > min(cfg.keep):
        current = [distill_round(teacher_v, copy.deepcopy(net).requires_grad_(True), ch.model.schedule, ch.z0, ys,
                                 steps, cfg, gen, quiet, ch.cond).requires_grad_(False)
                   for ch, teacher_v, net in zip(todo, teachers, current)]
        teachers = [as_teacher(net) for net in current]
        steps //= 2
        if steps in cfg.keep:
            written[steps] = save_student(out / f"student_{steps}.pt", model, current, steps, cfg, ckpt,
                                          time.time() - t0)
            if not quiet:
                print(f"[diffusion distill] {steps}-step student -> {written[steps]} "
                      f"({time.time() - t0:.0f} s so far)", flush=True)
    return written


def resume_from(cfg: DistillConfig, model, z0: torch.Tensor, gen: torch.Generator):
    """(steps, student denoiser) of ``cfg.resume``, after checking it comes from this very run (same teacher
    and settings) and fast-forwarding ``gen`` past the rounds it finished, so that the rounds still
    to go draw what an uninterrupted run would have drawn."""
    ckpt = checkpoint.load(cfg.resume)
    if ckpt.get("kind") != KIND:
        raise ValueError(f"--resume {cfg.resume}: not a distilled student (kind {ckpt.get('kind')!r})")
    done = ckpt["distill"]["config"]
    same = ("start_steps", "guidance", "iterations", "batch_size", "lr", "seed")
    differ = [f"{k}: {done.get(k)} there, {getattr(cfg, k)} here" for k in same if done.get(k) != getattr(cfg, k)]
    if ckpt["distill"]["teacher_sha256"] != sha256(cfg.teacher):
        differ.append(f"teacher: {ckpt['distill']['teacher_sha256'][:12]} there, {sha256(cfg.teacher)[:12]} here")
    if differ:
        raise ValueError(f"--resume {cfg.resume}: made with other settings ({'; '.join(differ)})")
    steps = int(ckpt["steps"])
    rounds = int(np.log2(cfg.start_steps // steps))
    if steps < 1 or cfg.start_steps != steps * 2 ** rounds:
        raise ValueError(f"--resume {cfg.resume}: a {steps}-step student cannot come from --start-steps "
                         f"{cfg.start_steps}")
    round_steps = cfg.start_steps
    for _ in range(rounds):
        for _ in range(cfg.iterations):
            draw_batch(gen, len(z0), round_steps, cfg.batch_size, z0.shape[1:])
        round_steps //= 2
    student = copy.deepcopy(model.denoiser)
    student.load_state_dict(ckpt["student"])
    return steps, student.requires_grad_(False)


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = DistillConfig()
    p.add_argument("--teacher", default=d.teacher,
                   help="teacher checkpoint: the STFT teacher (imuedge diffusion train), a latent model "
                        "(imuedge diffusion latent) or a VQ cascade (imuedge diffusion vqprior)")
    p.add_argument("--out", default=d.out, help="folder for student_4.pt, student_2.pt, student_1.pt")
    p.add_argument("--start-steps", type=int, default=d.start_steps, help="DDIM steps of the first teacher")
    p.add_argument("--guidance", type=float, default=d.guidance, help="guidance weight folded into the students")
    p.add_argument("--iterations", type=int, default=d.iterations, help="training iterations per halving")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="windows per iteration")
    p.add_argument("--lr", type=float, default=d.lr, help="learning rate")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed")
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (0: default)")
    p.add_argument("--resume", default=d.resume,
                   help="a student_N.pt this command wrote: go on from it with the next rounds (same settings)")


def config_from_args(a: argparse.Namespace) -> DistillConfig:
    return DistillConfig(teacher=a.teacher, out=a.out, start_steps=a.start_steps, guidance=a.guidance,
                         iterations=a.iterations, batch_size=a.batch_size, lr=a.lr, seed=a.seed, threads=a.threads,
                         resume=a.resume)
