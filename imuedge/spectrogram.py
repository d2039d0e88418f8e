"""IMU window -> per-sensor spectrogram images, with exportable ops only.

The IMG2IMU recipe: every axis of a sensor gets a short-time Fourier
transform; the log-magnitudes of the x, y and z axes become the R, G and B
channels of one image per sensor; the image is resized to the vision
backbone's input. All of it runs inside the model graph so the runtime
feeds raw windows (see ``imuedge.window``).

Exportability (ExecuTorch, LiteRT, ONNX, int8) rules out ``torch.stft``,
complex tensors and ``F.interpolate``. Instead:

* the DFT is a fixed ``conv1d`` whose kernels are ``window * cos`` and
  ``-window * sin`` (stride = hop), already divided by ``sum(window)``;
* the resize is two matmuls with precomputed bilinear matrices
  (``out = R_h @ S @ R_w^T``), equal to ``F.interpolate(mode="bilinear",
  align_corners=False)`` without antialiasing; both products use the
  matrices' band structure (``Spectrogram.resize``);
  ``F.interpolate`` lowers to XNNPACK too now, but measured no faster in
  the model;
* real and imaginary parts are channel slices of the conv output, not
  ``select``s of a reshaped tensor: XNNPACK takes slices into its delegate,
  while ``select`` ran as a portable kernel between two delegates
  (measured: the spectrogram alone in a .pte ~20% faster);
* normalisation (per image, per channel) is a mean and a std in-graph,
  computed exactly but on the small spectrum instead of the resized image
  (``Spectrogram.normalized_resize``): fewer ops, and float32 results that
  agree across backends (see there).

``log_eps`` (default 1e-2) is the floor inside ``log(eps + |X|)``. |X| is
in the window's units under scipy's ``scaling="spectrum"`` (a sinusoid of
amplitude a centred on a bin gives |X| = a/2), so 1e-2 is ~1 mg for the
accelerometer and ~0.6 deg/s for the gyroscope: near the sensors' noise
floors, and large enough that float32 rounding of near-empty bins
(~1e-7 m/s^2) moves the log by < 1e-4 (measured: <= 3e-5 on 1220 HAPT
windows, 1.6e-4 with eps = 1e-3). Smaller eps makes the near-empty
bins' log dominated by rounding noise.

Scipy equivalent of ``Spectrogram.log_magnitude`` on one channel::

    f, t, Z = scipy.signal.stft(x, nperseg=n_fft, noverlap=n_fft - hop,
                                nfft=n_fft, window=window, detrend=False,
                                return_onesided=True, boundary=None,
                                padded=False, scaling="spectrum")
    np.log(log_eps + np.abs(Z))

Sensors with fewer than three axes: each axis keeps its own colour (x->R,
y->G, z->B, by the channel name's last letter) and a missing axis is an
all-zero channel (zero is the mean of a normalised channel).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import scipy.signal
import torch
import torch.nn.functional as F
from torch import nn

from imuedge.window import CHANNELS, check_channels, sensor_groups

AXIS_COLOUR = {"x": 0, "y": 1, "z": 2}  # R, G, B


@dataclass
class SpectrogramConfig:
    """STFT framing and the output image.

    Defaults are for 50 Hz windows of 128 samples (2.56 s): a 32-sample
    (0.64 s) Hann frame gives 17 bins of 1.56 Hz up to 25 Hz, hop 2 gives
    49 frames; the 17 x 49 log-magnitude is resized to 96 x 128 (H x W),
    the IMG2IMU paper's 128 x 96 images. Frequency runs up the image (DC on
    the bottom row) when ``low_freq_at_bottom``; time runs left to right.
    """

    samples: int = 128  # window length T the module accepts
    n_fft: int = 32  # frame length (nperseg = nfft)
    hop: int = 2
    window: str = "hann"  # any scipy.signal.get_window name (periodic)
    image_size: tuple[int, int] = (96, 128)  # (H, W)
    log_eps: float = 1e-2  # see module docstring
    # Floor on the std in the per-image normalisation (log units). A constant
    # axis (a sensor lying still, a zeroed channel) has only float rounding
    # left (~1e-6) after the log; dividing by the floor keeps it ~1e-4
    # instead of amplifying it to unit-variance noise. Real content has std ~1.
    norm_floor: float = 1e-2
    low_freq_at_bottom: bool = True
    # "dataset": each axis z-scored with fixed statistics of the training split
    # (``Spectrogram.fit_normalization``), so the image keeps absolute levels --
    # which axis carries gravity, how strong a movement is -- that postures and
    # intensities are told apart by. "image": each image's axes standardised on
    # their own (scale-free, but posture information is mostly lost).
    normalization: str = "dataset"

    def __post_init__(self):
        self.image_size = tuple(int(s) for s in self.image_size)
        if self.n_fft > self.samples:
            raise ValueError(f"n_fft ({self.n_fft}) longer than the window ({self.samples} samples)")
        if self.hop <= 0 or self.n_fft <= 0:
            raise ValueError(f"n_fft ({self.n_fft}) and hop ({self.hop}) must be positive")
        if self.log_eps <= 0:
            raise ValueError(f"log_eps must be positive, got {self.log_eps}")
        if self.normalization not in ("dataset", "image"):
            raise ValueError(f"normalization must be 'dataset' or 'image', got {self.normalization!r}")

    @property
    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def n_frames(self) -> int:
        return (self.samples - self.n_fft) // self.hop + 1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["image_size"] = list(self.image_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SpectrogramConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown SpectrogramConfig field(s) {sorted(unknown)}")
        return cls(**d)


def dft_kernels(n_fft: int, window: str) -> np.ndarray:
    """(2F, 1, n_fft) conv kernels, [real; imag] rows, with scipy's 'spectrum' scaling."""
    win = scipy.signal.get_window(window, n_fft, fftbins=True).astype(np.float64)
    n = np.arange(n_fft)
    k = np.arange(n_fft // 2 + 1)[:, None]
    phase = 2.0 * np.pi * k * n / n_fft
    scale = win / win.sum()
    kernels = np.concatenate([np.cos(phase) * scale, -np.sin(phase) * scale])
    return kernels[:, None, :]


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix doing 1-D linear interpolation like
    ``F.interpolate(mode="linear"/"bilinear", align_corners=False)``."""
    scale = n_in / n_out
    src = np.clip((np.arange(n_out) + 0.5) * scale - 0.5, 0.0, None)
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    m = np.zeros((n_out, n_in), dtype=np.float64)
    np.add.at(m, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(m, (np.arange(n_out), hi), frac)
    return m


H_BLOCKS = 4  # row blocks of the frequency resize (see Spectrogram.resize); 1 = dense
W_BLOCKS = 4  # column blocks of the time resize (see Spectrogram.resize); 1 = dense


def band_blocks(matrix: np.ndarray, n_blocks: int) -> tuple[tuple[int, ...], np.ndarray]:
    """Cut a banded ``(n_out, n_in)`` matrix into ``n_blocks`` equal row blocks that each
    read ``K`` consecutive columns (the same ``K`` for all, the widest band).

    Returns the first column of each block and the ``(n_blocks, n_out / n_blocks, K)``
    blocks; ``blocks[b] @ x[start[b]:start[b] + K]`` equals rows ``b`` of ``matrix @ x``.
    Falls back to one dense block when ``n_blocks`` does not divide ``n_out``.
    """
    n_out, n_in = matrix.shape
    if n_blocks < 1 or n_out % n_blocks:
        n_blocks = 1
    rows = n_out // n_blocks
    spans = []
    for b in range(n_blocks):
        used = np.flatnonzero(np.abs(matrix[b * rows:(b + 1) * rows]).sum(0))
        spans.append((int(used.min()), int(used.max()) + 1) if used.size else (0, 1))
    k = max(hi - lo for lo, hi in spans)
    starts = tuple(min(lo, n_in - k) for lo, _ in spans)
    blocks = np.stack([matrix[b * rows:(b + 1) * rows, s:s + k] for b, s in enumerate(starts)])
    return starts, blocks


class Spectrogram(nn.Module):
    """Raw window ``(B, C, T)`` -> sensor images ``(B, n_sensors, 3, H, W)``.

    ``channels`` is the input's channel order (a subset of ``CHANNELS`` in
    canonical order); ``sensors`` lists the sensor names ("acc", "gyro") in
    output order. No trainable parameters; all constants are buffers.
    """

    def __init__(self, channels: tuple[str, ...] | list[str] = CHANNELS,
                 config: SpectrogramConfig | None = None):
        super().__init__()
        self.channels = check_channels(channels)
        self.config = config or SpectrogramConfig()
        cfg = self.config
        groups = sensor_groups(self.channels)
        self.sensors = tuple(name for name, _ in groups)
        # For each sensor, the input channel painting R, G, B (-1: missing axis).
        self.colour_sources = tuple(self._colour_sources(idx) for _, idx in groups)
        # Full x/y/z sensors in channel order (e.g. all six channels): to_rgb is a reshape, no copies.
        self.rgb_is_reshape = [i for src in self.colour_sources for i in src] == list(range(len(self.channels)))

        # The sine kernels of k = 0 and (even n_fft) k = n_fft / 2 are zero: the conv leaves them out (32
        # output channels instead of 34 by default: XNNPACK's conv works in 8/16-channel tiles, measured
        # 26 -> 17 us) and stft() pads the imaginary part back with zeros.
        kernels = dft_kernels(cfg.n_fft, cfg.window)
        norms = np.abs(kernels).sum(axis=(1, 2))
        self.dft_rows = np.flatnonzero(norms > 1e-9 * norms.max())  # sin(pi * n) is ~1e-16 in float64, not 0
        imag = self.dft_rows[self.dft_rows >= cfg.n_freqs] - cfg.n_freqs  # bins whose sine kernel is kept
        if len(self.dft_rows) != cfg.n_freqs + len(imag) or (len(imag) and np.any(np.diff(imag) != 1)):
            raise ValueError(f"unexpected zero DFT kernels for n_fft={cfg.n_fft}, window={cfg.window!r}")
        first = int(imag[0]) if len(imag) else cfg.n_freqs
        self.imag_pad = (0, 0, first, cfg.n_freqs - first - len(imag))  # F.pad: (frames), (bins) before/after
        self.register_buffer("dft_weight", torch.tensor(kernels[self.dft_rows], dtype=torch.float32))
        self.register_load_state_dict_pre_hook(self._drop_zero_kernels)
        resize_h = bilinear_matrix(cfg.n_freqs, cfg.image_size[0])
        if cfg.low_freq_at_bottom:
            resize_h = resize_h[::-1].copy()
        self.register_buffer("resize_h", torch.tensor(resize_h, dtype=torch.float32))
        # R_h cut into row blocks that each read K consecutive bins, one copy per channel (see resize).
        self.h_block_starts, blocks = band_blocks(resize_h, H_BLOCKS)
        self.register_buffer("resize_h_blocks", torch.tensor(np.concatenate([blocks] * len(self.channels)),
                                                             dtype=torch.float32), persistent=False)
        resize_w = bilinear_matrix(cfg.n_frames, cfg.image_size[1])
        self.w_block_starts, w_blocks = band_blocks(resize_w, W_BLOCKS)
        for j, blk in enumerate(w_blocks):
            self.register_buffer(f"resize_w_block{j}", torch.tensor(blk, dtype=torch.float32), persistent=False)
        self.register_buffer("resize_w_t", torch.tensor(resize_w.T.copy(), dtype=torch.float32))
        # Per-axis statistics of the training split's log-magnitudes ("dataset" normalisation).
        self.register_buffer("axis_mean", torch.zeros(len(self.channels), 1, 1))
        self.register_buffer("axis_std", torch.ones(len(self.channels), 1, 1))
        # Image statistics from the spectrum (see normalized_resize); derived, so not in the state dict.
        h, w = cfg.image_size
        self.register_buffer("mean_h", torch.tensor(resize_h.sum(0, keepdims=True) / h, dtype=torch.float32),
                             persistent=False)
        self.register_buffer("mean_w", torch.tensor(resize_w.sum(0)[:, None] / w, dtype=torch.float32),
                             persistent=False)
        self.register_buffer("gram_h", torch.tensor(resize_h.T @ resize_h / h, dtype=torch.float32),
                             persistent=False)
        self.register_buffer("gram_w", torch.tensor(resize_w.T @ resize_w / w, dtype=torch.float32),
                             persistent=False)

    def _drop_zero_kernels(self, module, state_dict, prefix, *args) -> None:
        """Checkpoints written before the zero sine kernels were left out hold all 2F of them."""
        key = prefix + "dft_weight"
        w = state_dict.get(key)
        if w is not None and w.shape[0] == 2 * self.config.n_freqs != len(self.dft_rows):
            state_dict[key] = w[torch.as_tensor(self.dft_rows)]

    def _colour_sources(self, idx: list[int]) -> tuple[int, int, int]:
        sources = [-1, -1, -1]
        for i in idx:
            sources[AXIS_COLOUR[self.channels[i][-1]]] = i
        return tuple(sources)

    @property
    def n_sensors(self) -> int:
        return len(self.sensors)

    def check_input(self, x: torch.Tensor) -> None:
        expected = (len(self.channels), self.config.samples)
        if x.dim() != 3 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"Spectrogram expects (batch, {expected[0]} channels {list(self.channels)}, "
                             f"{expected[1]} samples); got {tuple(x.shape)}")

    def dft(self, x: torch.Tensor) -> torch.Tensor:
        """The DFT conv's output ``(B*C, F + Fi, frames)``: F cosine rows, then the Fi non-zero sine rows."""
        b, c, t = x.shape
        return F.conv1d(x.reshape(b * c, 1, t), self.dft_weight, stride=self.config.hop)

    def stft(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Real and imaginary parts, each ``(B, C, F, frames)``."""
        b, c, f = x.shape[0], x.shape[1], self.config.n_freqs
        spec = self.dft(x)
        imag = F.pad(spec[:, f:], self.imag_pad)
        return spec[:, :f].reshape(b, c, f, -1), imag.reshape(b, c, f, -1)

    def power(self, x: torch.Tensor) -> torch.Tensor:
        """``|STFT|^2`` as ``(B, C, F, frames)``.

        The same numbers as ``real**2 + imag**2`` from ``stft``, in fewer graph
        ops: one square over the whole conv output, then each sine term added
        to its bin (in a .pte every op costs ~0.5-1 us of dispatch on top of
        its work; measured 2.4 us less per window than squaring ``stft``'s parts).
        """
        b, c, f = x.shape[0], x.shape[1], self.config.n_freqs
        spec = self.dft(x)
        sq = spec * spec
        return (sq[:, :f] + F.pad(sq[:, f:], self.imag_pad)).reshape(b, c, f, -1)

    def log_magnitude(self, x: torch.Tensor) -> torch.Tensor:
        """``log(log_eps + |STFT|)`` as ``(B, C, F, frames)``, scipy-comparable."""
        self.check_input(x)
        power = self.power(x)
        if power.requires_grad:  # only when a gradient flows back to the window: sqrt'(0) is infinite
            power = power + 1e-20
        return torch.log(torch.sqrt(power) + self.config.log_eps)

    def resize(self, spec: torch.Tensor) -> torch.Tensor:
        """``(..., F, frames)`` -> ``(..., H, W)``: ``R_h @ spec @ R_w^T``, using the band structure.

        Bilinear matrices have two non-zeros per row, so each is cut into
        equal blocks of rows that each read ``K`` consecutive inputs
        (``band_blocks``). Time axis first (half the MACs of H first): the W
        output columns in ``W_BLOCKS`` blocks, one ``linear`` per block
        (``K = 14`` of 49 frames) and a ``cat``. Then the frequency axis: for
        one window (the exported shape) the H rows in ``H_BLOCKS`` blocks
        (``K = 6`` of 17 bins) and ONE ``bmm`` over every (channel, block)
        pair -- no ``expand``: ``matmul`` broadcasting ``R_h`` over channels
        emits ``expand`` ops that ExecuTorch runs as portable kernels outside
        XNNPACK, splitting the delegate. A batch, or a dynamic batch (ONNX),
        takes the broadcast ``matmul``. The skipped entries are exact zeros,
        so every path equals the dense product (up to float summation order).
        Measured in the int8 .pte: time resize 15 -> 9 us, frequency resize
        38 us + 13 us of portable ``expand`` -> ~20 us.
        """
        if len(self.w_block_starts) > 1:
            k = self.resize_w_block0.shape[1]
            y = torch.cat([F.linear(spec[..., s:s + k], getattr(self, f"resize_w_block{j}"))
                           for j, s in enumerate(self.w_block_starts)], dim=-1)
        else:
            y = torch.matmul(spec, self.resize_w_t)
        lead, w = y.shape[:-2], y.shape[-1]
        blocks, rows, k = self.resize_h_blocks.shape
        static = all(type(d) is int for d in lead)  # a dynamic batch (ONNX export) is a SymInt: no branch on it
        if static and int(np.prod(lead)) * len(self.h_block_starts) == blocks:
            parts = torch.stack([y[..., s:s + k, :] for s in self.h_block_starts], dim=-3)  # (..., nb, K, W)
            out = torch.bmm(self.resize_h_blocks, parts.reshape(blocks, k, w))
            return out.reshape(*lead, rows * len(self.h_block_starts), w)
        return torch.matmul(self.resize_h, y)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Zero mean, unit std over each image channel's pixels (std floored at ``norm_floor``)."""
        mean = images.mean(dim=(-2, -1), keepdim=True)
        centred = images - mean
        std = torch.sqrt((centred * centred).mean(dim=(-2, -1), keepdim=True))
        return centred / std.clamp_min(self.config.norm_floor)

    def normalized_resize(self, spec: torch.Tensor) -> torch.Tensor:
        """``normalize(resize(spec))``, with the statistics computed on ``spec`` ``(..., F, frames)``.

        Exact in real arithmetic: each row of the bilinear matrices sums to 1,
        so the image's mean is ``m = mean_h @ spec @ mean_w`` and
        ``resize(spec) - m = resize(spec - m)``; with ``D = spec - m`` the
        image's variance is ``sum(D * (gram_h @ D @ gram_w))`` (Gram
        matrices ``R^T R / n``). In float32 it is also better conditioned:
        sums run over 17 and 49 terms instead of 12288 (a backend's
        sequential mean over the whole image differed from PyTorch's
        pairwise one by 3e-4), and the mean gets one refinement pass on
        ``D`` (whose terms are ~std, not ~|log-magnitude|), which matters
        because dividing by a small std (0.03 on a still sensor) magnifies
        the mean's rounding.
        """
        d = spec - torch.matmul(torch.matmul(self.mean_h, spec), self.mean_w)
        d = d - torch.matmul(torch.matmul(self.mean_h, d), self.mean_w)
        var = (d * torch.matmul(torch.matmul(self.gram_h, d), self.gram_w)).sum(-1, keepdim=True).sum(-2, keepdim=True)
        std = torch.sqrt(var.clamp_min(0.0))
        return self.resize(d / std.clamp_min(self.config.norm_floor))

    def to_rgb(self, per_axis: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` per-axis images -> ``(B, n_sensors, 3, H, W)``."""
        if self.rgb_is_reshape:
            return per_axis.reshape(per_axis.shape[0], self.n_sensors, 3, *per_axis.shape[-2:])
        zeros = torch.zeros_like(per_axis[:, 0])
        sensors = []
        for sources in self.colour_sources:
            planes = [per_axis[:, i] if i >= 0 else zeros for i in sources]
            sensors.append(torch.stack(planes, dim=1))
        return torch.stack(sensors, dim=1)

    @torch.no_grad()
    def fit_normalization(self, windows, batch_size: int = 512) -> None:
        """Set the per-axis statistics from training windows ``(N, C, T)`` (train split only)."""
        x = torch.as_tensor(windows, dtype=torch.float32)
        if len(x) == 0:
            raise ValueError("fit_normalization needs at least one window")
        total = torch.zeros(len(self.channels), dtype=torch.float64)
        total_sq = torch.zeros_like(total)
        count = 0
        for i in range(0, len(x), batch_size):
            spec = self.log_magnitude(x[i:i + batch_size]).double()
            total += spec.sum(dim=(0, 2, 3))
            total_sq += (spec * spec).sum(dim=(0, 2, 3))
            count += spec.shape[0] * spec.shape[2] * spec.shape[3]
        mean = total / count
        std = (total_sq / count - mean * mean).clamp_min(0).sqrt()
        self.axis_mean.copy_(mean.float().view(-1, 1, 1))
        self.axis_std.copy_(std.float().clamp_min(self.config.norm_floor).view(-1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = self.log_magnitude(x)
        if self.config.normalization == "dataset":
            # z-score before the resize: equal to after it (rows of the resize matrices sum to 1)
            return self.to_rgb(self.resize((spec - self.axis_mean) / self.axis_std))
        # Statistics of the resized image, so the output is exactly standardised.
        return self.to_rgb(self.normalized_resize(spec))
