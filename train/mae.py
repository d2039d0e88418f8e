"""Masked autoencoder (MAE) on raw IMU windows, in the shape of facebookresearch/mae's ``models_mae.py``.

How a window becomes tokens. A window ``(C, T)`` in physical units is z-scored per channel (the
statistics are buffers inside the graph, fitted on unlabelled windows with ``fit_normalization``,
so a runtime still feeds raw windows) and cut along time into ``L = T / patch`` patches of
``patch`` samples. ONE token is one time patch of ALL channels: its ``C * patch`` values, channel
by channel (``acc_x`` samples 0..p-1, then ``acc_y`` 0..p-1, ...), go through one linear layer to
``dim``. So masking hides every channel of a span at once -- the model must infer a span from the
motion around it, not copy it from another axis of the same instant -- and the sequence stays
short (32 tokens for 128 samples at patch 4, the human-gait MAE's window, patch and ratio). A fixed
1-D sine-cosine code gives each token its position.

    patchify(x)            (N, C, T) -> (N, L, C * p)        unpatchify: the inverse
    random_masking(t, r)   keep a random (1 - r) of the tokens of each window (seeded generator)
    forward_encoder        embed -> mask -> transformer on the VISIBLE tokens only -> latent
    forward_decoder        latent + mask tokens, unshuffled, + positions -> light transformer ->
                           every patch's C * p values
    forward_loss           mean squared error on the MASKED patches only (targets optionally normalised
                           patch by patch, MAE's norm_pix_loss), plus optionally a spectral term: the
                           STFT magnitudes of the window with its masked patches replaced by the
                           reconstruction vs those of the window itself

``MAEEncoder`` is the part that ships: standardise -> patch tokens -> blocks -> layer norm -> pooled
over tokens, ``(B, C, T) -> (B, out_dim)``: ``pool="mean_std"`` (the default) gives each feature's mean
and standard deviation over the tokens (``out_dim = 2 * dim``; chosen on the validation subjects, see
benchmarks/results/mae/README.md section 6), ``pool="mean"`` the mean alone (``out_dim = dim``; what
checkpoints written before the option hold). It has the encoder contract of ``encoder.IMUEncoder``
(``channels``, ``window``, ``out_dim``, ``fit_normalization``, ``to_config``/``from_config``), so a
classifier, `imuedge train --encoder`, `imuedge eval` and `imuedge export` take it unchanged.

Written for export (every op of the encoder lowers to ExecuTorch's XNNPACK delegate, LiteRT and ONNX):
explicit attention (``Attention``), layer norm and the token mean as matmuls by constant vectors
(``LayerNorm``, ``MAEEncoder.pool_tokens``), exact GELU by default (XNNPACK computes GELU exactly: the tanh
approximation in PyTorch then differs from the .pte by ~1e-4 on unit-scale outputs, above the fp32 parity
limit), no class token, fixed positions (a buffer), no data-dependent shapes outside masking (which only
pretraining uses).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from imuedge.window import CHANNELS, check_channels

ACTIVATIONS = {"gelu": lambda: nn.GELU(), "gelu_tanh": lambda: nn.GELU(approximate="tanh"), "relu": lambda: nn.ReLU()}


@dataclass
class MAEConfig:
    """Defaults: the edge configuration (encoder ~0.4 M parameters); ``large()`` for GPU pretraining."""

    channels: tuple[str, ...] = CHANNELS
    window: int = 128  # samples per window (2.56 s at 50 Hz)
    patch: int = 4  # samples per token
    dim: int = 128
    depth: int = 3
    heads: int = 4
    mlp_ratio: float = 2.0
    activation: str = "gelu"  # gelu (exact) | gelu_tanh | relu
    decoder_dim: int = 64
    decoder_depth: int = 2
    decoder_heads: int = 4
    mask_ratio: float = 0.75
    pool: str = "mean_std"  # encoder features: mean_std (mean and std over tokens, 2 * dim) | mean (dim)
    norm_target: bool = False  # targets normalised patch by patch (MAE's norm_pix_loss)
    spectral_weight: float = 0.0  # > 0: add this times the STFT-magnitude term to the loss
    spectral_n_fft: int = 32  # STFT frame (samples) of the spectral term
    spectral_hop: int = 8

    def __post_init__(self):
        self.channels = check_channels(self.channels)
        if self.window % self.patch:
            raise ValueError(f"window {self.window} is not a multiple of patch {self.patch}")
        if self.dim % self.heads or self.decoder_dim % self.decoder_heads:
            raise ValueError(f"dim {self.dim} / decoder_dim {self.decoder_dim} must divide by their heads")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; use one of {sorted(ACTIVATIONS)}")
        if self.pool not in POOLS:
            raise ValueError(f"unknown pool {self.pool!r}; use one of {list(POOLS)}")
        if not 0.0 <= self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {self.mask_ratio}")
        if self.spectral_n_fft > self.window:
            raise ValueError(f"spectral_n_fft {self.spectral_n_fft} is longer than the window {self.window}")

    @classmethod
    def large(cls, **kw) -> "MAEConfig":
        """A larger configuration for GPU pretraining (encoder ~4.8 M parameters)."""
        return cls(**{"dim": 256, "depth": 6, "heads": 8, "mlp_ratio": 4.0, "decoder_dim": 128,
                      "decoder_depth": 4, **kw})

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "MAEConfig":
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown MAEConfig field(s) {sorted(unknown)}")
        # no "pool": written before the option, when the encoder mean-pooled
        return cls(**{"pool": "mean", **d, "channels": tuple(d.get("channels", CHANNELS))})

    @property
    def tokens(self) -> int:
        return self.window // self.patch


ENCODER_FIELDS = ("channels", "window", "patch", "dim", "depth", "heads", "mlp_ratio", "activation", "pool")
POOLS = ("mean_std", "mean")


def sincos_positions(length: int, dim: int) -> torch.Tensor:
    """Fixed 1-D sine-cosine position code ``(length, dim)`` (the transformer paper's, as MAE's)."""
    pos = torch.arange(length, dtype=torch.float64)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    code = torch.zeros(length, dim, dtype=torch.float64)
    code[:, 0::2] = torch.sin(pos * freq)
    code[:, 1::2] = torch.cos(pos * freq)
    return code.float()


class Mixing(nn.Module):
    """Scaled dot-product attention of heads folded into the batch: ``bmm`` -> softmax -> ``bmm``.
    A module of its own so that int8 export can keep it float32 (``export_float``): int8 attention
    logits and probabilities flip close calls (measured in README 'MAE encoders')."""

    export_float = True

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.bmm(torch.softmax(torch.bmm(q, k.transpose(1, 2)), dim=-1), v)


class Attention(nn.Module):
    """Multi-head self-attention written out: separate q, k, v linears, heads folded into the batch,
    ``Mixing``, output linear. (A fused qkv split by indexing left ``select_copy`` ops, and 4-D
    matmuls ``expand_copy`` ops, outside ExecuTorch's XNNPACK delegate.)"""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.mix = Mixing()
        self.proj = nn.Linear(dim, dim)

    def split_heads(self, t: torch.Tensor) -> torch.Tensor:
        b, n, d = t.shape
        return t.reshape(b, n, self.heads, d // self.heads).transpose(1, 2).reshape(b * self.heads, n, d // self.heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        out = self.mix(self.split_heads(self.q(x) * self.scale), self.split_heads(self.k(x)),
                       self.split_heads(self.v(x)))  # (B * heads, N, d / heads)
        return self.proj(out.reshape(b, self.heads, n, d // self.heads).transpose(1, 2).reshape(b, n, d))


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` (same parameters, same result) with the means written as matmuls by a constant
    ``1/D`` vector: ExecuTorch's XNNPACK delegate takes no ``native_layer_norm`` and no mean over the last
    dim of a 3-D tensor, but does take matmul, sub, mul, sqrt, div and add. ``export_float``: int8 export
    keeps it float32 (a variance in int8 steps loses the small ones)."""

    export_float = True

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__(dim, eps=eps)
        self.register_buffer("average", torch.full((dim, 1), 1.0 / dim), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x @ self.average
        return centred / torch.sqrt((centred * centred) @ self.average + self.eps) * self.weight + self.bias


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, activation: str):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1, self.attn = LayerNorm(dim), Attention(dim, heads)
        self.norm2 = LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), ACTIVATIONS[activation](), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Standardize(nn.Module):
    """Per-channel z-score of raw windows, statistics as buffers. ``export_float``: int8 export keeps it
    float32 (int8 on raw sensor values loses the small motions)."""

    export_float = True

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels, 1))
        self.register_buffer("std", torch.ones(channels, 1))

    @torch.no_grad()
    def fit(self, windows, eps: float = 1e-6, batch_size: int = 4096) -> None:
        x = torch.as_tensor(windows, dtype=torch.float32)
        if x.ndim != 3 or len(x) == 0 or x.shape[1] != len(self.mean):
            raise ValueError(f"fit_normalization needs windows (N>0, {len(self.mean)}, T), got {tuple(x.shape)}")
        total = torch.zeros(x.shape[1], dtype=torch.float64)
        total_sq = torch.zeros_like(total)
        for i in range(0, len(x), batch_size):
            chunk = x[i:i + batch_size].double()
            total += chunk.sum(dim=(0, 2))
            total_sq += (chunk * chunk).sum(dim=(0, 2))
        count = x.shape[0] * x.shape[2]
        mean = total / count
        self.mean.copy_(mean.float()[:, None])
        self.std.copy_((total_sq / count - mean * mean).clamp_min(0).sqrt().float().clamp_min(eps)[:, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class MAEEncoder(nn.Module):
    """Raw window ``(B, C, T)`` -> embedding ``(B, out_dim)``: the MAE encoder on all tokens, pooled over
    them (``pool``: mean and standard deviation, ``2 * dim``, or mean, ``dim``)."""

    def __init__(self, channels=CHANNELS, window: int = 128, patch: int = 4, dim: int = 128, depth: int = 3,
                 heads: int = 4, mlp_ratio: float = 2.0, activation: str = "gelu", pool: str = "mean_std"):
        super().__init__()
        cfg = MAEConfig(channels=tuple(channels), window=window, patch=patch, dim=dim, depth=depth, heads=heads,
                        mlp_ratio=mlp_ratio, activation=activation, pool=pool)
        self.config = {k: getattr(cfg, k) for k in ENCODER_FIELDS}
        self.config["channels"] = list(cfg.channels)
        self.patch, self.out_dim = patch, dim * (2 if pool == "mean_std" else 1)
        self.standardize = Standardize(len(cfg.channels))
        # in a Sequential of its own: int8 export keeps the first linear block float (export.quantize's
        # input_layer is the parent module of the first linear), which must be this layer, not the encoder
        self.patch_embed = nn.Sequential(nn.Linear(len(cfg.channels) * patch, dim))
        self.register_buffer("pos_embed", sincos_positions(cfg.tokens, dim)[None], persistent=False)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, activation) for _ in range(depth))
        self.norm = LayerNorm(dim)
        # means over tokens as matmuls by a constant 1/L vector (a mean op over the token dim stays outside
        # the XNNPACK delegate)
        self.register_buffer("pool", torch.full((cfg.tokens, 1), 1.0 / cfg.tokens), persistent=False)
        self.apply(init_weights)

    # -- the encoder contract (as IMUEncoder)
    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.config["channels"])

    @property
    def window(self) -> int:
        return int(self.config["window"])

    def fit_normalization(self, windows) -> None:
        """Per-channel statistics from unlabelled windows ``(N, C, T)`` of the training data."""
        self.standardize.fit(windows)

    def to_config(self) -> dict:
        return dict(self.config)

    @classmethod
    def from_config(cls, d: dict) -> "MAEEncoder":
        return cls(**{"pool": "mean", **d})  # no "pool": written before the option, when it mean-pooled

    # -- the steps
    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, T)`` -> ``(N, L, C * p)``: one row per time patch, its channels one after another."""
        n, c, t = x.shape
        return x.reshape(n, c, t // self.patch, self.patch).permute(0, 2, 1, 3).reshape(n, t // self.patch,
                                                                                          c * self.patch)

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        """``(N, L, C * p)`` -> ``(N, C, T)``."""
        n, length, _ = patches.shape
        c = len(self.config["channels"])
        return patches.reshape(n, length, c, self.patch).permute(0, 2, 1, 3).reshape(n, c, length * self.patch)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Raw window -> position-coded tokens ``(N, L, dim)``."""
        return self.patch_embed(self.patchify(self.standardize(x))) + self.pos_embed

    def transform(self, tokens: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def pool_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, L, D)`` -> ``(B, D)`` means over tokens, or with ``pool="mean_std"`` ``(B, 2 D)``: each
        feature's mean then its standard deviation over tokens (interleaved: mean_0, std_0, mean_1, ...)."""
        b, length, d = tokens.shape
        per_feature = tokens.transpose(1, 2).reshape(b * d, length)
        mean = per_feature @ self.pool  # (B * D, 1)
        if self.config["pool"] == "mean":
            return mean.reshape(b, d)
        centred = per_feature - mean
        std = torch.sqrt((centred * centred) @ self.pool + 1e-6)
        return torch.cat([mean, std], dim=1).reshape(b, 2 * d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool_tokens(self.transform(self.embed(x)))  # tokens (B, L, D) -> (B, out_dim)


def init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):  # as MAE: xavier-uniform linears, zero biases, unit layer norms
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


class MaskedAutoencoder(nn.Module):
    """MAE pretraining model: ``MAEEncoder`` + a light decoder that reconstructs the masked patches."""

    def __init__(self, cfg: MAEConfig | dict | None = None):
        super().__init__()
        cfg = MAEConfig.from_dict(cfg) if isinstance(cfg, dict) else (cfg or MAEConfig())
        self.cfg = cfg
        self.encoder = MAEEncoder(**{k: getattr(cfg, k) for k in ENCODER_FIELDS})
        self.decoder_embed = nn.Linear(cfg.dim, cfg.decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.decoder_dim))
        self.register_buffer("decoder_pos_embed", sincos_positions(cfg.tokens, cfg.decoder_dim)[None],
                             persistent=False)
        self.decoder_blocks = nn.ModuleList(Block(cfg.decoder_dim, cfg.decoder_heads, cfg.mlp_ratio, cfg.activation)
                                            for _ in range(cfg.decoder_depth))
        self.decoder_norm = LayerNorm(cfg.decoder_dim)
        self.decoder_pred = nn.Linear(cfg.decoder_dim, len(cfg.channels) * cfg.patch)
        for m in (self.decoder_embed, self.decoder_blocks, self.decoder_norm, self.decoder_pred):
            m.apply(init_weights)
        nn.init.normal_(self.mask_token, std=0.02)

    def to_config(self) -> dict:
        return self.cfg.to_dict()

    @classmethod
    def from_config(cls, d: dict) -> "MaskedAutoencoder":
        return cls(MAEConfig.from_dict(d))

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.patchify(x)

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        return self.encoder.unpatchify(patches)

    @staticmethod
    def random_masking(tokens: torch.Tensor, mask_ratio: float, generator: torch.Generator | None = None):
        """Keep ``L - round(L * mask_ratio)`` random tokens of each window (MAE's per-sample shuffle).

        Returns the kept tokens ``(N, L_keep, D)``, the mask ``(N, L)`` (1 = masked, in the original
        order) and ``ids_restore`` (the permutation that puts shuffled tokens back in order).
        """
        n, length, d = tokens.shape
        keep = length - int(round(length * mask_ratio))
        noise = torch.rand(n, length, generator=generator, device="cpu").to(tokens.device)
        ids_shuffle = torch.argsort(noise, dim=1)  # ascending: the smallest noise is kept
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        kept = torch.gather(tokens, 1, ids_shuffle[:, :keep, None].expand(-1, -1, d))
        mask = torch.ones(n, length, device=tokens.device)
        mask[:, :keep] = 0
        return kept, torch.gather(mask, 1, ids_restore), ids_restore

    def forward_encoder(self, x: torch.Tensor, mask_ratio: float, generator: torch.Generator | None = None):
        tokens, mask, ids_restore = self.random_masking(self.encoder.embed(x), mask_ratio, generator)
        return self.encoder.transform(tokens), mask, ids_restore

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        x = self.decoder_embed(latent)
        n, length = ids_restore.shape
        x = torch.cat([x, self.mask_token.expand(n, length - x.shape[1], -1)], dim=1)
        x = torch.gather(x, 1, ids_restore[:, :, None].expand(-1, -1, x.shape[2]))  # unshuffle
        x = x + self.decoder_pos_embed
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))  # (N, L, C * p)

    def targets(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Target patches of the standardised window, and each patch's mean and std (for ``norm_target``)."""
        target = self.patchify(self.encoder.standardize(x))
        mean, std = target.mean(-1, keepdim=True), (target.var(-1, keepdim=True) + 1e-6).sqrt()
        return ((target - mean) / std if self.cfg.norm_target else target), mean, std

    def reconstruct(self, x: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The standardised window with its masked patches replaced by the reconstruction ``(N, C, T)``.
        With ``norm_target``, the prediction is put back in signal units with each patch's own mean
        and std (as MAE's visualisation does)."""
        target, mean, std = self.targets(x)
        if self.cfg.norm_target:
            pred, target = pred * std + mean, target * std + mean
        return self.unpatchify(torch.where(mask[..., None].bool(), pred, target))

    def spectral_loss(self, x: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared difference of STFT magnitudes (Hann frames of ``spectral_n_fft`` samples every
        ``spectral_hop``, no padding; every channel) between the window whose masked patches are the
        reconstruction and the standardised window itself. Visible patches are the original's, so only
        masked patches move it (frames over visible patches only contribute zeros)."""
        c = self.cfg
        original = self.encoder.standardize(x)
        mixed = self.reconstruct(x, pred, mask)
        window = torch.hann_window(c.spectral_n_fft, device=x.device)

        def magnitude(s):
            return torch.stft(s.flatten(0, 1), c.spectral_n_fft, c.spectral_hop, window=window, center=False,
                              return_complex=True).abs()

        return F.mse_loss(magnitude(mixed), magnitude(original))

    def forward_loss(self, x: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error over the masked patches only (+ ``spectral_weight`` x ``spectral_loss``)."""
        target, _, _ = self.targets(x)
        per_patch = (pred - target).pow(2).mean(dim=-1)  # (N, L)
        loss = (per_patch * mask).sum() / mask.sum().clamp_min(1)
        if self.cfg.spectral_weight > 0:
            loss = loss + self.cfg.spectral_weight * self.spectral_loss(x, pred, mask)
        return loss

    def forward(self, x: torch.Tensor, mask_ratio: float | None = None, generator: torch.Generator | None = None):
        """``(loss, pred (N, L, C * p), mask (N, L))``."""
        latent, mask, ids_restore = self.forward_encoder(x, self.cfg.mask_ratio if mask_ratio is None else mask_ratio,
                                                         generator)
        pred = self.forward_decoder(latent, ids_restore)
        return self.forward_loss(x, pred, mask), pred, mask
