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
  align_corners=False)`` without antialiasing;
* normalisation (per image, per channel) is a mean and a std in-graph.

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

    def __post_init__(self):
        self.image_size = tuple(int(s) for s in self.image_size)
        if self.n_fft > self.samples:
            raise ValueError(f"n_fft ({self.n_fft}) longer than the window ({self.samples} samples)")
        if self.hop <= 0 or self.n_fft <= 0:
            raise ValueError(f"n_fft ({self.n_fft}) and hop ({self.hop}) must be positive")
        if self.log_eps <= 0:
            raise ValueError(f"log_eps must be positive, got {self.log_eps}")

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

        self.register_buffer("dft_weight", torch.tensor(dft_kernels(cfg.n_fft, cfg.window), dtype=torch.float32))
        resize_h = bilinear_matrix(cfg.n_freqs, cfg.image_size[0])
        if cfg.low_freq_at_bottom:
            resize_h = resize_h[::-1].copy()
        self.register_buffer("resize_h", torch.tensor(resize_h, dtype=torch.float32))
        self.register_buffer("resize_w_t", torch.tensor(bilinear_matrix(cfg.n_frames, cfg.image_size[1]).T.copy(),
                                                        dtype=torch.float32))

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

    def stft(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Real and imaginary parts, each ``(B, C, F, frames)``."""
        b, c, t = x.shape
        spec = F.conv1d(x.reshape(b * c, 1, t), self.dft_weight, stride=self.config.hop)
        spec = spec.reshape(b, c, 2, self.config.n_freqs, spec.shape[-1])
        return spec[:, :, 0], spec[:, :, 1]

    def log_magnitude(self, x: torch.Tensor) -> torch.Tensor:
        """``log(log_eps + |STFT|)`` as ``(B, C, F, frames)``, scipy-comparable."""
        self.check_input(x)
        real, imag = self.stft(x)
        magnitude = torch.sqrt(real * real + imag * imag + 1e-20)  # finite gradient at 0
        return torch.log(magnitude + self.config.log_eps)

    def resize(self, spec: torch.Tensor) -> torch.Tensor:
        """``(..., F, frames)`` -> ``(..., H, W)`` by two matmuls."""
        return torch.matmul(torch.matmul(self.resize_h, spec), self.resize_w_t)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Zero mean, unit std over each image channel's pixels (std floored at ``norm_floor``)."""
        mean = images.mean(dim=(-2, -1), keepdim=True)
        centred = images - mean
        std = torch.sqrt((centred * centred).mean(dim=(-2, -1), keepdim=True))
        return centred / std.clamp_min(self.config.norm_floor)

    def to_rgb(self, per_axis: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` per-axis images -> ``(B, n_sensors, 3, H, W)``."""
        zeros = torch.zeros_like(per_axis[:, 0])
        sensors = []
        for sources in self.colour_sources:
            planes = [per_axis[:, i] if i >= 0 else zeros for i in sources]
            sensors.append(torch.stack(planes, dim=1))
        return torch.stack(sensors, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Resize before normalising so the output is exactly standardised.
        return self.to_rgb(self.normalize(self.resize(self.log_magnitude(x))))
