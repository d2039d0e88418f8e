"""The TimeVQVDM-style VQ-VAE: one vector-quantized autoencoder per frequency band.

    vqvae = VQVAE(VQVAEConfig())                  # LF and HF bands, (6, 128) <-> 2 x (4, 32) tokens
    vqvae.fit(train_windows)                       # per-band, per-channel z-score of the physical input
    loss, parts, used = vqvae.forward_loss(x)      # reconstruction + codebook/commitment, both bands
    vqvae.fit_latent(train_windows)                # standardise the quantized tokens (after training)
    z = vqvae.encode(x); x_hat = vqvae.decode(z)   # (B, 8, 32): LF tokens in channels 0-3, HF in 4-7

Each band (``BandSplit``: the STFT's low bins / the rest) has its own ``BandVQVAE``: the
latent VAE's convolution stacks (``vae.conv_encoder`` / ``conv_decoder``, two stride-2
stages) around a ``VectorQuantizer`` whose 1x1 projections take the ``width``-channel
features to d = 4 dimensional tokens and back; K = 512 codes. Loss per band: the latent
VAE's reconstruction loss (L1 + L2 + FFT, on the z-scored band) + the quantizer's
codebook + commitment loss. Dead codes: a code no token chose during the last
``restart_every`` training steps is moved onto a token of the current batch (Dhariwal et
al. 2020, Jukebox's random restarts), so the codebook stays in use; the trainer counts.

The diffusion space (``encode`` / ``decode``, the verbs of the STFT ``Framing`` and the
latent ``WindowVAE``) is the *quantized* tokens, standardised per token dimension and
band by training-set statistics: what the decoder was trained on. ``decode`` snaps a
(generated) latent back onto the nearest codes before decoding, then adds the two
bands' windows.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from imuedge.train.diffusion.vae import conv_decoder, conv_encoder, reconstruction_loss
from imuedge.train.diffusion.vq import BandSplit, VectorQuantizer, VQConfig

BANDS = ("lf", "hf")


@dataclass
class VQVAEConfig:
    channels: int = 6
    samples: int = 128
    lf_bins: int = 2  # STFT bins 0..lf_bins-1 are the low band (0 and 1.67 Hz at 50 Hz)
    width: int = 64
    downsample: int = 2  # both bands: token length = samples / 2**downsample
    dim: int = 4  # token dimension d
    codes: int = 512  # codebook size K
    commitment: float = 0.25
    fft_weight: float = 1.0

    @property
    def latent_shape(self) -> tuple[int, int]:
        """The diffusion space: both bands' tokens stacked, (2 d, L)."""
        return 2 * self.dim, self.samples // 2 ** self.downsample

    def to_dict(self) -> dict:
        return asdict(self)


class BandVQVAE(nn.Module):
    """One band's VQ-VAE: z-scored band (B, C, T) -> features -> d-dim tokens -> codes -> window."""

    def __init__(self, cfg: VQVAEConfig):
        super().__init__()
        if cfg.samples % 2 ** cfg.downsample:
            raise ValueError(f"window of {cfg.samples} samples does not halve {cfg.downsample} times")
        self.cfg = cfg
        self.encoder = conv_encoder(cfg.channels, cfg.width, cfg.width, cfg.downsample)
        self.vq = VectorQuantizer(VQConfig(dim=cfg.dim, codes=cfg.codes, in_channels=cfg.width,
                                           commitment=cfg.commitment))
        self.decoder = conv_decoder(cfg.width, cfg.width, cfg.channels, cfg.downsample)
        self.register_buffer("mean", torch.zeros(cfg.channels, 1))  # input z-score
        self.register_buffer("std", torch.ones(cfg.channels, 1))
        self.register_buffer("token_mean", torch.zeros(cfg.dim, 1))  # diffusion-space standardisation
        self.register_buffer("token_std", torch.ones(cfg.dim, 1))

    def tokens(self, band: torch.Tensor) -> torch.Tensor:
        """Physical band (B, C, T) -> continuous d-dim tokens before quantization (B, dim, L)."""
        return self.vq.project_in(self.encoder((band - self.mean) / self.std))

    def forward_loss(self, band: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction loss, codebook + commitment loss, codes (B, L)) for a physical band."""
        target = (band - self.mean) / self.std
        q, codes, vq_loss = self.vq(self.encoder(target))
        return reconstruction_loss(self.decoder(q), target, self.cfg.fft_weight), vq_loss, codes

    def encode(self, band: torch.Tensor) -> torch.Tensor:
        """Physical band -> standardised quantized tokens (B, dim, L)."""
        return (self.vq.quantize(self.tokens(band)) - self.token_mean) / self.token_std

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Standardised tokens -> nearest codes -> physical band (B, C, T)."""
        q = self.vq.quantize(z * self.token_std + self.token_mean)
        return self.decoder(self.vq.project_out(q)) * self.std + self.mean

    @torch.no_grad()
    def fit(self, band: torch.Tensor) -> None:
        x = band.double()
        self.mean.copy_(x.mean(dim=(0, 2))[:, None].float())
        self.std.copy_(x.std(dim=(0, 2))[:, None].clamp_min(1e-6).float())

    @torch.no_grad()
    def fit_latent(self, band: torch.Tensor, batch: int = 512) -> None:
        q = torch.cat([self.vq.quantize(self.tokens(band[i:i + batch])) for i in range(0, len(band), batch)])
        q = q.double()
        self.token_mean.copy_(q.mean(dim=(0, 2))[:, None].float())
        self.token_std.copy_(q.std(dim=(0, 2))[:, None].clamp_min(1e-6).float())


class VQVAE(nn.Module):
    """Both bands: ``split`` a window, a ``BandVQVAE`` each (``lf``, ``hf``), ``decode`` adds them back."""

    def __init__(self, config: VQVAEConfig | None = None):
        super().__init__()
        cfg = self.config = config or VQVAEConfig()
        self.bands = BandSplit(cfg.channels, cfg.lf_bins)
        self.lf, self.hf = BandVQVAE(cfg), BandVQVAE(cfg)

    @property
    def latent_shape(self) -> tuple[int, int]:
        return self.config.latent_shape

    def band(self, name: str) -> BandVQVAE:
        return getattr(self, name)

    def forward_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict, dict]:
        """Sum of both bands' losses for physical windows x; the float value of each term; each band's codes."""
        split = dict(zip(BANDS, self.bands.split(x)))
        total, parts, codes = 0.0, {}, {}
        for name in BANDS:
            recon, vq_loss, codes[name] = self.band(name).forward_loss(split[name])
            total = total + recon + vq_loss
            parts[f"{name}_recon"], parts[f"{name}_vq"] = recon.item(), vq_loss.item()
        return total, {"loss": total.item(), **parts}, codes

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Physical windows -> (B, 2 d, L): standardised quantized LF tokens, then HF tokens."""
        lf, hf = self.bands.split(x)
        return torch.cat([self.lf.encode(lf), self.hf.encode(hf)], 1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, 2 d, L) standardised tokens -> physical windows (m/s^2, rad/s): LF window + HF window."""
        d = self.config.dim
        return self.bands.merge(self.lf.decode(z[:, :d]), self.hf.decode(z[:, d:]))

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        for name, band in zip(BANDS, self.bands.split(x)):
            self.band(name).fit(band)

    @torch.no_grad()
    def fit_latent(self, x: torch.Tensor) -> None:
        for name, band in zip(BANDS, self.bands.split(x)):
            self.band(name).fit_latent(band)
