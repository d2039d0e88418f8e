"""The TimeLDM-style generator: class-conditional diffusion in a VAE's latent space.

    model = LatentDiffusion(LatentConfig(class_names=names), vae)   # a trained WindowVAE (frozen)
    loss = model.loss(x, y)                                          # v-loss on the standardised latents
    x = model.sample(y, "ddim", steps=10, guidance=1.5)              # (B, C, T) m/s^2, rad/s

Everything but the space and the denoiser is the STFT model's (``ConditionalDiffusion``):
the v-parameterisation, class dropout for classifier-free guidance, the schedulers, the
unrolled sampler and its export. The space is the VAE (``encode``: standardised posterior
means; ``decode``: its decoder, back to physical units); the denoiser is a transformer
over the latent positions (``transformer.py``). One linear schedule (beta 1e-4 -> 0.02
over T = 1000) serves every latent channel: a latent has no sensors of its own.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from imuedge.train.diffusion.model import ConditionalDiffusion
from imuedge.train.diffusion.schedulers import NoiseSchedule, ScheduleConfig
from imuedge.train.diffusion.transformer import LatentTransformer, TransformerConfig
from imuedge.train.diffusion.vae import VAEConfig, WindowVAE
from imuedge.window import CHANNELS


def latent_schedule() -> ScheduleConfig:
    return ScheduleConfig(beta_start={"latent": 1e-4}, beta_end={"latent": 0.02})


@dataclass
class LatentConfig:
    channels: tuple[str, ...] = CHANNELS
    class_names: tuple[str, ...] = ()
    sample_rate_hz: float = 50.0
    vae: VAEConfig = field(default_factory=VAEConfig)
    schedule: ScheduleConfig = field(default_factory=latent_schedule)
    width: int = 64
    depth: int = 3
    heads: int = 4
    cond_drop: float = 0.1

    def to_dict(self) -> dict:
        return {**asdict(self), "channels": list(self.channels), "class_names": list(self.class_names)}

    @classmethod
    def from_dict(cls, d: dict) -> "LatentConfig":
        d = dict(d)
        d["vae"], d["schedule"] = VAEConfig(**d["vae"]), ScheduleConfig(**d["schedule"])
        return cls(**{**d, "channels": tuple(d["channels"]), "class_names": tuple(d["class_names"])})


class LatentDiffusion(ConditionalDiffusion):
    def __init__(self, config: LatentConfig, vae: WindowVAE | None = None):
        super().__init__()
        self.config = config
        if not config.class_names:
            raise ValueError("a class-conditional generator needs class names")
        self.vae = (vae or WindowVAE(config.vae)).requires_grad_(False).eval()
        c, n = self.vae.latent_shape
        self.transformer = LatentTransformer(TransformerConfig(in_channels=c, length=n,
                                                               num_classes=len(config.class_names),
                                                               width=config.width, depth=config.depth,
                                                               heads=config.heads))
        self.schedule = NoiseSchedule.linear(config.schedule, ["latent"])

    @property
    def space(self) -> WindowVAE:
        return self.vae

    @property
    def denoiser(self) -> LatentTransformer:
        return self.transformer

    @property
    def noise_shape(self) -> tuple[int, ...]:
        return self.vae.latent_shape

    def train(self, mode: bool = True) -> "LatentDiffusion":
        super().train(mode)
        self.vae.eval()  # frozen: stage 1's weights and statistics
        return self


def latent_model(config: dict) -> LatentDiffusion:
    """The model a checkpoint's ``model.config`` describes (untrained: the loader puts the weights in)."""
    return LatentDiffusion(LatentConfig.from_dict(config))
