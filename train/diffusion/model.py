"""The teacher: a class-conditional diffusion model over a window's STFT planes.

    model = DiffusionModel(channels, class_names)         # framing + UNet + per-sensor schedule
    model.framing.fit(train_windows)                       # normalisation from the training split
    loss = model.loss(x, y)                                # one training step's loss (smooth L1 on v)
    x = model.sample(y, sampler="ddim", steps=10, guidance=2.0, generator=g)   # (B, C, T) in m/s^2, rad/s

Classifier-free guidance (Ho & Salimans 2022): while training, the class is replaced
by "no class" with probability ``cond_drop``; at sampling the prediction is
``v_uncond + w * (v_cond - v_uncond)`` (w = 1: plain conditional, w = 0: unconditional).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from imuedge import checkpoint
from imuedge.train.diffusion.framing import Framing, FramingConfig
from imuedge.train.diffusion.schedulers import SAMPLERS, NoiseSchedule, ScheduleConfig
from imuedge.train.diffusion.unet import UNet, UNetConfig
from imuedge.window import ACC, CHANNELS

MAX_GUIDANCE = 10.0


@dataclass
class DiffusionConfig:
    channels: tuple[str, ...] = CHANNELS
    class_names: tuple[str, ...] = ()
    sample_rate_hz: float = 50.0
    framing: FramingConfig = field(default_factory=lambda: FramingConfig(window_mean=True))  # framing.py's doc
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    base: int = 32  # UNet base width
    mults: tuple[int, ...] = (1, 2, 2)
    attention: bool = True
    cond_drop: float = 0.1  # probability of training a window without its class (guidance)

    def to_dict(self) -> dict:
        return {**asdict(self), "channels": list(self.channels), "class_names": list(self.class_names),
                "mults": list(self.mults)}

    @classmethod
    def from_dict(cls, d: dict) -> "DiffusionConfig":
        d = dict(d)
        d["framing"] = FramingConfig(**d["framing"])
        d["schedule"] = ScheduleConfig(**d["schedule"])
        return cls(**{**d, "channels": tuple(d["channels"]), "class_names": tuple(d["class_names"]),
                      "mults": tuple(d["mults"])})


def plane_sensors(channels) -> list[str]:
    """The sensor of each STFT plane: channel c's real and imaginary planes are 2c and 2c + 1."""
    return [s for c in channels for s in (("acc", "acc") if c in ACC else ("gyro", "gyro"))]


class ConditionalDiffusion(nn.Module):
    """What every generator here shares: a ``space`` (``encode``: physical window -> the space diffusion runs
    in; ``decode``: back to m/s^2 and rad/s), a ``denoiser`` (``forward(z, t, class_id)``, ``embed_time``,
    ``embed_class``, ``denoise(z, embedding)``), a ``schedule``, and ``config.class_names`` / ``cond_drop``.
    The STFT-domain model (planes) and the latent one (``latent.py``, a VAE's latent sequence) are two of them."""

    @property
    def noise_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        return len(self.config.class_names)

    @property
    def null_class(self) -> int:
        return self.num_classes

    def forward(self, z: torch.Tensor, t: torch.Tensor, class_id: torch.Tensor,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        """v-prediction for noisy z at timesteps t (B,) and classes (B,) (``null_class``: none); ``cond``: a
        clean conditioning sequence for a denoiser that reads one (the VQ cascade's HF prior)."""
        return self.denoiser(z, t, class_id) if cond is None else self.denoiser(z, t, class_id, cond)

    def guided(self, z: torch.Tensor, t: torch.Tensor, class_id: torch.Tensor, guidance: float,
               cond: torch.Tensor | None = None, rescale: float = 0.0) -> torch.Tensor:
        """Classifier-free guidance: v_uncond + w (v_cond - v_uncond), both from one batched call (``cond``, if
        any, in both: only the class is dropped); ``rescale``: see ``mix_guidance``."""
        if guidance == 1.0:
            return self(z, t, class_id, cond)
        null = torch.full_like(class_id, self.null_class)
        v = self(torch.cat([z, z]), torch.cat([t, t]), torch.cat([class_id, null]),
                 None if cond is None else torch.cat([cond, cond]))
        v_cond, v_uncond = v.chunk(2)
        return mix_guidance(v_cond, v_uncond, guidance, rescale)

    def loss(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None,
             net: nn.Module | None = None) -> torch.Tensor:
        """Smooth-L1 on v for windows x (B, C, T) physical, classes y (B,); random t, noise and class drop.
        ``net``: the denoiser to call (its DDP wrapper under torchrun); default ``self.denoiser``."""
        with torch.no_grad():
            z0 = self.space.encode(x)
        return self.v_loss(z0, y, generator, net)

    def v_loss(self, z0: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None,
               net: nn.Module | None = None, cond: torch.Tensor | None = None) -> torch.Tensor:
        """``loss`` on already-encoded z0 (B, *noise_shape) (a frozen space's encodings can be computed once);
        ``cond``: the clean conditioning sequence of a denoiser that reads one."""
        b = z0.shape[0]
        dev = z0.device
        t = torch.randint(0, self.schedule.num_train_timesteps, (b,), generator=generator).to(dev)
        noise = torch.randn(z0.shape, generator=generator).to(dev)
        drop = torch.rand(b, generator=generator).to(dev) < self.config.cond_drop
        y = torch.where(drop, torch.full_like(y, self.null_class), y)
        alpha, sigma = self.schedule.alpha_sigma(t, z0)
        zt = alpha * z0 + sigma * noise
        target = alpha * noise - sigma * z0
        net = net or self.denoiser
        return F.smooth_l1_loss(net(zt, t, y) if cond is None else net(zt, t, y, cond), target)

    @torch.no_grad()
    def sample(self, class_id: torch.Tensor, sampler: str = "ddim", steps: int = 50, guidance: float = 1.0,
               generator: torch.Generator | None = None, noise: torch.Tensor | None = None,
               progress=None) -> torch.Tensor:
        """Windows (B, C, T) in physical units for classes (B,), with a teacher sampler (``ddpm`` / ``ddim``)."""
        return self.space.decode(self.sample_latent(class_id, sampler, steps, guidance, generator, noise, progress))

    @torch.no_grad()
    def sample_latent(self, class_id: torch.Tensor, sampler: str = "ddim", steps: int = 50, guidance: float = 1.0,
                      generator: torch.Generator | None = None, noise: torch.Tensor | None = None, progress=None,
                      cond: torch.Tensor | None = None, rescale: float = 0.0, halt: float = 1.0) -> torch.Tensor:
        """``sample`` before the decoder: the clean estimate in the diffusion space (B, *noise_shape); ``cond``,
        ``rescale`` (``mix_guidance``) and ``halt`` (``schedulers.sampling_timesteps``) as named there."""
        check_guidance(guidance)
        sched = SAMPLERS[sampler](self.schedule)
        sched.set_timesteps(steps, halt)
        dev = next(self.denoiser.parameters()).device
        class_id = class_id.to(dev)
        z = noise if noise is not None else torch.randn((len(class_id), *self.noise_shape), generator=generator)
        z = z.to(dev)
        for t in sched.timesteps:
            tt = torch.full((len(z),), t, device=dev)
            z = sched.step(self.guided(z, tt, class_id, guidance, cond, rescale), t, z, generator=generator)
            if progress is not None:
                progress.update(1)
        return z


class DiffusionModel(ConditionalDiffusion):
    """The STFT-domain generator: ``framing`` is its space, ``unet`` its denoiser."""

    def __init__(self, config: DiffusionConfig):
        super().__init__()
        self.config = config
        if not config.class_names:
            raise ValueError("a class-conditional generator needs class names")
        c = len(config.channels)
        if config.framing.samples <= 0:
            raise ValueError("window length must be positive")
        self.framing = Framing(c, config.framing)
        self.unet = UNet(UNetConfig(in_channels=2 * c, num_classes=len(config.class_names), base=config.base,
                                    mults=tuple(config.mults), attention=config.attention))
        self.schedule = NoiseSchedule.linear(config.schedule, plane_sensors(config.channels))

    @property
    def space(self) -> Framing:
        return self.framing

    @property
    def denoiser(self) -> UNet:
        return self.unet

    @property
    def noise_shape(self) -> tuple[int, ...]:
        return self.framing.plane_shape


def diffusion_model(config: dict) -> DiffusionModel:
    return DiffusionModel(DiffusionConfig.from_dict(config))


def model_from_checkpoint(path, kind: str, not_a: str, fits: str, load_weights,
                          build=diffusion_model) -> tuple[nn.Module, dict]:
    """The checkpoint at ``path`` and the model ``build`` makes from its config (default: a DiffusionModel),
    weights put in by ``load_weights(model, ckpt)``; ``build`` may be a dict from ``ckpt["model"]["name"]`` to
    builders. Another kind of checkpoint ("..., not {not_a}"), an unknown model name or weights of another
    shape ("weights do not fit {fits}") is a CheckpointError naming the file."""
    ckpt = checkpoint.load(path)
    if ckpt.get("kind") != kind:
        raise checkpoint.CheckpointError(f"{path}: a {ckpt.get('kind')!r} checkpoint, not {not_a}")
    if isinstance(build, dict):
        name = ckpt["model"].get("name")
        if name not in build:
            raise checkpoint.CheckpointError(f"{path}: {not_a} of an unknown model {name!r} (known: {sorted(build)})")
        build = build[name]
    model = build(ckpt["model"]["config"])
    try:
        load_weights(model, ckpt)
    except RuntimeError as e:
        raise checkpoint.CheckpointError(f"{path}: weights do not fit {fits}: {e}") from e
    return model, ckpt


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, step: int, rate: float) -> None:
    """Move ``ema``'s parameters towards ``model``'s, with the decay warming up to ``rate`` over the first steps."""
    decay = min(rate, (1 + step) / (10 + step))
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm, 1 - decay)


def mix_guidance(v_cond: torch.Tensor, v_uncond: torch.Tensor, guidance: float, rescale: float = 0.0) -> torch.Tensor:
    """v_cfg = v_uncond + w (v_cond - v_uncond); with ``rescale`` phi > 0, the guidance rescaling of Lin et al.
    2024 ("Common diffusion noise schedules and sample steps are flawed", Sec. 3.4, Alg. 2), which TimeVQVDM
    uses against overexposure: v_rs = v_cfg * std(v_cond) / std(v_cfg) (std per sample over all other axes),
    returned as phi v_rs + (1 - phi) v_cfg. (The std is written as the root mean square about the mean, so it
    exports everywhere; the ratio is the same as with Bessel's correction.)"""
    v = v_uncond + guidance * (v_cond - v_uncond)
    if not rescale:
        return v
    ratio = _std(v_cond) / _std(v).clamp_min(1e-8)
    return rescale * (v * ratio) + (1 - rescale) * v


def _std(v: torch.Tensor) -> torch.Tensor:
    dims = tuple(range(1, v.dim()))
    return (v - v.mean(dim=dims, keepdim=True)).pow(2).mean(dim=dims, keepdim=True).sqrt()


def check_guidance(guidance: float) -> float:
    g = float(guidance)
    if not 0.0 <= g <= MAX_GUIDANCE:
        raise ValueError(f"guidance weight {guidance} is out of range [0, {MAX_GUIDANCE:g}]")
    return g
