"""The TimeLDM-style VAE: a window (C, T) <-> a compact latent sequence (latent_channels, T / 4).

    vae = WindowVAE(VAEConfig())                  # (6, 128) <-> (4, 32): 6x fewer numbers
    vae.fit(train_windows)                         # per-channel z-score of the physical input
    loss, parts = vae.forward_loss(x, beta)        # L1 + L2 + FFT reconstruction, + beta * KL
    vae.fit_latent(train_windows)                  # standardise the latent means (after training)
    z = vae.encode(x); x_hat = vae.decode(z)       # the space the latent diffusion model runs in

Encoder: 1-D convolutions over time, two stride-2 stages, to a Gaussian posterior
per latent position. Decoder: the mirror, each upsampling a convolution to twice the
channels folded into twice the length (a 1-D pixel shuffle: reshapes only, so the
decoder exports to every backend). ``encode`` / ``decode`` are the diffusion space:
the posterior mean standardised per latent channel by training-set statistics, and
back to m/s^2 and rad/s -- the same two verbs as the STFT model's ``Framing``.
The reconstruction loss is on the z-scored window: L1 + L2 + the L1 distance of the
two windows' real FFTs (so spectral content the pointwise terms blur counts too).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class VAEConfig:
    channels: int = 6
    samples: int = 128
    width: int = 64
    latent_channels: int = 4
    downsample: int = 2  # stride-2 stages: latent length = samples / 2**downsample
    fft_weight: float = 1.0

    @property
    def latent_shape(self) -> tuple[int, int]:
        return self.latent_channels, self.samples // 2 ** self.downsample


class Upsample(nn.Module):
    """(B, C, L) -> (B, C, 2L): a convolution to 2C channels, then channel pairs laid out along time."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv1d(ch, 2 * ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, n = x.shape
        return self.conv(x).reshape(b, c, 2, n).transpose(2, 3).reshape(b, c, 2 * n)


def conv_encoder(channels: int, width: int, out: int, downsample: int) -> nn.Sequential:
    """(B, channels, T) -> (B, out, T / 2**downsample): convolutions over time, ``downsample`` stride-2 stages."""
    enc = [nn.Conv1d(channels, width, 5, padding=2), nn.SiLU()]
    for _ in range(downsample):
        enc += [nn.Conv1d(width, width, 4, stride=2, padding=1), nn.SiLU(), nn.Conv1d(width, width, 3, padding=1),
                nn.SiLU()]
    return nn.Sequential(*enc, nn.Conv1d(width, out, 1))


def conv_decoder(latent: int, width: int, channels: int, downsample: int) -> nn.Sequential:
    """The mirror of ``conv_encoder``: (B, latent, L) -> (B, channels, L * 2**downsample)."""
    dec = [nn.Conv1d(latent, width, 3, padding=1), nn.SiLU()]
    for _ in range(downsample):
        dec += [Upsample(width), nn.SiLU(), nn.Conv1d(width, width, 3, padding=1), nn.SiLU()]
    return nn.Sequential(*dec, nn.Conv1d(width, channels, 5, padding=2))


def reconstruction_loss(x_hat: torch.Tensor, target: torch.Tensor, fft_weight: float = 1.0) -> torch.Tensor:
    """L1 + L2 in time + fft_weight * L1 of the real FFTs (normalised by the window length)."""
    n = target.shape[-1]
    spec = (torch.fft.rfft(x_hat, dim=-1) - torch.fft.rfft(target, dim=-1)).abs() / n ** 0.5
    return F.l1_loss(x_hat, target) + F.mse_loss(x_hat, target) + fft_weight * spec.mean()


class WindowVAE(nn.Module):
    def __init__(self, config: VAEConfig | None = None):
        super().__init__()
        cfg = self.config = config or VAEConfig()
        if cfg.samples % 2 ** cfg.downsample:
            raise ValueError(f"window of {cfg.samples} samples does not halve {cfg.downsample} times")
        self.encoder = conv_encoder(cfg.channels, cfg.width, 2 * cfg.latent_channels, cfg.downsample)
        self.decoder = conv_decoder(cfg.latent_channels, cfg.width, cfg.channels, cfg.downsample)
        self.register_buffer("mean", torch.zeros(cfg.channels, 1))  # input z-score
        self.register_buffer("std", torch.ones(cfg.channels, 1))
        self.register_buffer("latent_mean", torch.zeros(cfg.latent_channels, 1))  # diffusion-space standardisation
        self.register_buffer("latent_std", torch.ones(cfg.latent_channels, 1))

    @property
    def latent_shape(self) -> tuple[int, int]:
        return self.config.latent_shape

    # ------------------------------------------------------------ the VAE
    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Physical windows (B, C, T) -> (mu, logvar), each (B, latent_channels, L)."""
        mu, logvar = self.encoder((x - self.mean) / self.std).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor, generator=None) -> torch.Tensor:
        return mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=generator).to(mu.device)

    def reconstruct(self, latent: torch.Tensor) -> torch.Tensor:
        """A raw latent (B, latent_channels, L) -> z-scored window (B, C, T)."""
        return self.decoder(latent)

    def forward_loss(self, x: torch.Tensor, beta: float, generator=None) -> tuple[torch.Tensor, dict]:
        """recon + beta * KL for physical windows x; ``parts``: the float values of each term."""
        mu, logvar = self.posterior(x)
        target = (x - self.mean) / self.std
        x_hat = self.reconstruct(self.reparameterize(mu, logvar, generator))
        recon = self.reconstruction_loss(x_hat, target)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean()
        loss = recon + beta * kl
        return loss, {"loss": loss.item(), "recon": recon.item(), "kl": kl.item(), "beta": beta}

    def reconstruction_loss(self, x_hat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return reconstruction_loss(x_hat, target, self.config.fft_weight)

    # ------------------------------------------------------------ the diffusion space
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Physical windows -> standardised posterior means (B, latent_channels, L)."""
        mu, _ = self.posterior(x)
        return (mu - self.latent_mean) / self.latent_std

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Standardised latents -> physical windows (m/s^2, rad/s)."""
        return self.reconstruct(z * self.latent_std + self.latent_mean) * self.std + self.mean

    # ------------------------------------------------------------ fitting the normalisations
    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        """The input z-score from training windows (N, C, T) in physical units."""
        x = x.double()
        self.mean.copy_(x.mean(dim=(0, 2))[:, None].float())
        self.std.copy_(x.std(dim=(0, 2))[:, None].clamp_min(1e-6).float())

    @torch.no_grad()
    def fit_latent(self, x: torch.Tensor, batch: int = 512) -> None:
        """Per-channel mean and std of the posterior means of training windows (N, C, T)."""
        mu = torch.cat([self.posterior(x[i:i + batch])[0] for i in range(0, len(x), batch)]).double()
        self.latent_mean.copy_(mu.mean(dim=(0, 2))[:, None].float())
        self.latent_std.copy_(mu.std(dim=(0, 2))[:, None].clamp_min(1e-6).float())
