"""The TimeVQVDM-style generator: diffusion priors over a two-band VQ-VAE's tokens, sampled as a cascade.

    model = VQDiffusion(VQPriorConfig(class_names=names), vqvae)  # a trained VQVAE (frozen)
    loss = model.loss(z0, y)                  # z0 = vqvae.encode(x): LF prior's + HF prior's v-loss
    x = model.sample(y, "ddim", steps=10, guidance=1.5)           # LF latent, then HF given it, decode
    sampler = CascadeSampler(model, steps=10, guidance=1.5)       # the same as one exportable graph

Two class-conditional priors (``LatentPrior``: the latent generator's transformer and
``ConditionalDiffusion``'s v-loss, guidance and sampling loop) over the standardised
quantized tokens (``VQVAE.encode``; (4, 32) per band):

* the LF prior models the low band's tokens alone;
* the HF prior models the high band's tokens given the *clean* LF tokens, read beside its
  noisy input as 4 more channels (``TransformerConfig.cond_channels``). Training uses the
  real LF tokens; sampling is cascaded: the LF chain runs to the end first, and its
  clean estimate conditions every step of the HF chain. The LF prior never sees the HF band.

Classifier-free guidance drops the class only (p = ``cond_drop``); the HF prior keeps its LF
condition in both branches. ``rescale`` (phi, default 0.7 as in Lin et al. 2024) is the
guidance rescaling TimeVQVDM uses against overexposure (``model.mix_guidance``); ``halt``
stops each reverse process that far (``schedulers.sampling_timesteps``; TimeVQVDM's 0.99,
off by default). Both are stored in the checkpoint's config as the sampler's defaults.
Noise layout of the sampler: (B, 8, 32), channels 0-3 the LF chain's, 4-7 the HF chain's.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from imuedge.train.diffusion.distill import UnrolledSampler, WindowDecoder
from imuedge.train.diffusion.latent import latent_schedule
from imuedge.train.diffusion.model import ConditionalDiffusion
from imuedge.train.diffusion.schedulers import NoiseSchedule, ScheduleConfig
from imuedge.train.diffusion.transformer import LatentTransformer, TransformerConfig
from imuedge.train.diffusion.vqvae import VQVAE, VQVAEConfig
from imuedge.window import CHANNELS


@dataclass
class VQPriorConfig:
    channels: tuple[str, ...] = CHANNELS
    class_names: tuple[str, ...] = ()
    sample_rate_hz: float = 50.0
    vqvae: VQVAEConfig = field(default_factory=VQVAEConfig)
    schedule: ScheduleConfig = field(default_factory=latent_schedule)
    width: int = 64
    depth: int = 3
    heads: int = 4
    cond_drop: float = 0.1
    rescale: float = 0.7  # guidance rescaling phi (0: plain classifier-free guidance)
    halt: float = 1.0  # reverse process halted this far (TimeVQVDM: 0.99)

    def to_dict(self) -> dict:
        return {**asdict(self), "channels": list(self.channels), "class_names": list(self.class_names)}

    @classmethod
    def from_dict(cls, d: dict) -> "VQPriorConfig":
        d = dict(d)
        d["vqvae"], d["schedule"] = VQVAEConfig(**d["vqvae"]), ScheduleConfig(**d["schedule"])
        return cls(**{**d, "channels": tuple(d["channels"]), "class_names": tuple(d["class_names"])})


class TokenSpace(nn.Module):
    """A prior's own space: it diffuses the tokens themselves (the cascade decodes both bands together)."""

    @staticmethod
    def encode(z: torch.Tensor) -> torch.Tensor:
        return z

    @staticmethod
    def decode(z: torch.Tensor) -> torch.Tensor:
        return z


class LatentPrior(ConditionalDiffusion):
    """One band's prior: a transformer over that band's (d, L) tokens, reading ``cond_channels`` more."""

    def __init__(self, config: VQPriorConfig, cond_channels: int = 0):
        super().__init__()
        self.config = config
        self.tokens = TokenSpace()
        d, n = config.vqvae.dim, config.vqvae.latent_shape[1]
        self.transformer = LatentTransformer(TransformerConfig(in_channels=d, length=n, cond_channels=cond_channels,
                                                               num_classes=len(config.class_names),
                                                               width=config.width, depth=config.depth,
                                                               heads=config.heads))
        self.schedule = NoiseSchedule.linear(config.schedule, ["latent"])

    @property
    def space(self) -> TokenSpace:
        return self.tokens

    @property
    def denoiser(self) -> LatentTransformer:
        return self.transformer

    @property
    def noise_shape(self) -> tuple[int, ...]:
        return self.config.vqvae.dim, self.config.vqvae.latent_shape[1]


class VQDiffusion(nn.Module):
    def __init__(self, config: VQPriorConfig, vqvae: VQVAE | None = None):
        super().__init__()
        self.config = config
        if not config.class_names:
            raise ValueError("a class-conditional generator needs class names")
        if not 0.0 <= config.rescale <= 1.0:
            raise ValueError(f"guidance rescale must be in [0, 1], got {config.rescale}")
        self.vqvae = (vqvae or VQVAE(config.vqvae)).requires_grad_(False).eval()
        self.lf = LatentPrior(config)
        self.hf = LatentPrior(config, cond_channels=config.vqvae.dim)

    @property
    def space(self) -> VQVAE:
        return self.vqvae

    @property
    def noise_shape(self) -> tuple[int, ...]:
        return self.vqvae.latent_shape

    @property
    def num_classes(self) -> int:
        return len(self.config.class_names)

    def split(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.config.vqvae.dim
        return z[:, :d], z[:, d:]

    def loss(self, z0: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The LF prior's v-loss on the LF tokens + the HF prior's on the HF tokens given the real LF tokens."""
        z_lf, z_hf = self.split(z0)
        return self.lf.v_loss(z_lf, y, generator) + self.hf.v_loss(z_hf, y, generator, cond=z_lf)

    @torch.no_grad()
    def sample(self, class_id: torch.Tensor, sampler: str = "ddim", steps: int = 50, guidance: float = 1.0,
               generator: torch.Generator | None = None, noise: torch.Tensor | None = None,
               rescale: float | None = None, halt: float | None = None) -> torch.Tensor:
        """Windows (B, C, T) for classes (B,): the LF chain, then the HF chain given its result, then decode.
        ``rescale`` / ``halt``: the config's unless given."""
        rescale = self.config.rescale if rescale is None else rescale
        halt = self.config.halt if halt is None else halt
        if noise is None:
            noise = torch.randn((len(class_id), *self.noise_shape), generator=generator)
        n_lf, n_hf = self.split(noise)
        z_lf = self.lf.sample_latent(class_id, sampler, steps, guidance, generator, n_lf, rescale=rescale, halt=halt)
        z_hf = self.hf.sample_latent(class_id, sampler, steps, guidance, generator, n_hf, cond=z_lf,
                                     rescale=rescale, halt=halt)
        return self.vqvae.decode(torch.cat([z_lf, z_hf], 1))

    def train(self, mode: bool = True) -> "VQDiffusion":
        super().train(mode)
        self.vqvae.eval()  # frozen: stage 1's weights and statistics
        return self


def vq_model(config: dict) -> VQDiffusion:
    """The model a checkpoint's ``model.config`` describes (untrained: the loader puts the weights in)."""
    return VQDiffusion(VQPriorConfig.from_dict(config))


class CascadeSampler(nn.Module):
    """The cascade as one graph: noise (B, 2d, L) + class id (B,) -> window (B, C, T) in m/s^2 and rad/s.
    Two unrolled guided DDIM loops (``UnrolledSampler.run``), the HF one reading the LF one's result, then
    the VQ-VAE's decoder (nearest codes, both bands, merged)."""

    def __init__(self, model: VQDiffusion, steps: int, guidance: float = 1.5, rescale: float | None = None,
                 halt: float | None = None):
        super().__init__()
        rescale = model.config.rescale if rescale is None else rescale
        halt = model.config.halt if halt is None else halt
        self.lf = UnrolledSampler(model.lf, model.lf.denoiser, steps, guidance, rescale, halt)
        self.hf = UnrolledSampler(model.hf, model.hf.denoiser, steps, guidance, rescale, halt)
        self.decoder = WindowDecoder(copy.deepcopy(model.vqvae))
        self.noise_shape = tuple(model.noise_shape)
        self.steps = self.lf.steps
        self.num_classes = model.num_classes
        self.dim = model.config.vqvae.dim

    def forward(self, noise: torch.Tensor, class_id: torch.Tensor) -> torch.Tensor:
        z_lf = self.lf.run(noise[:, :self.dim], class_id)
        z_hf = self.hf.run(noise[:, self.dim:], class_id, cond=z_lf)
        return self.decoder(torch.cat([z_lf, z_hf], 1))
