"""Signal helpers over ``(channels, samples)`` arrays: resampling, low-pass
filtering and the gravity/body split, plus the same on recordings.

All filters are zero-phase (forward-backward) so events do not shift in time;
resampling is polyphase with an anti-aliasing filter, so content above the new
Nyquist frequency is attenuated rather than folded back.
"""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np

from imuedge.data.recording import Dataset, Recording
from imuedge.window import ACC

MAX_DENOMINATOR = 1000  # rational approximation of to_hz / from_hz
RATE_TOLERANCE = 1e-3  # relative error the approximation may leave in the rate


def resample_ratio(from_hz: float, to_hz: float) -> tuple[int, int]:
    """(up, down) with up/down ~= to_hz/from_hz; raises if no small ratio is close enough."""
    if from_hz <= 0 or to_hz <= 0:
        raise ValueError(f"sample rates must be positive, got {from_hz} -> {to_hz}")
    ratio = Fraction(to_hz / from_hz).limit_denominator(MAX_DENOMINATOR)
    if ratio == 0 or abs(float(ratio) * from_hz - to_hz) > RATE_TOLERANCE * to_hz:
        raise ValueError(f"cannot approximate {from_hz} Hz -> {to_hz} Hz by a ratio with denominator "
                         f"<= {MAX_DENOMINATOR}")
    return ratio.numerator, ratio.denominator


def resample(data: np.ndarray, from_hz: float, to_hz: float) -> np.ndarray:
    """Resample along the last axis, anti-aliased (polyphase FIR, ``resample_poly``).

    Output length is ``ceil(n * up / down)``; the ends are padded by a fitted line,
    so a constant offset such as gravity does not droop at the edges.
    """
    data = np.asarray(data)
    up, down = resample_ratio(from_hz, to_hz)
    if up == down:
        return data.copy()
    from scipy import signal as sps  # scipy.signal takes ~1 s to import: only when used

    out = sps.resample_poly(data.astype(np.float64), up, down, axis=-1, padtype="line")
    return out.astype(data.dtype if data.dtype.kind == "f" else np.float64)


def resample_labels(labels: np.ndarray, from_hz: float, to_hz: float, num_out: int | None = None) -> np.ndarray:
    """Per-sample labels at the new rate: each output sample takes the nearest input label."""
    labels = np.asarray(labels)
    if num_out is None:
        up, down = resample_ratio(from_hz, to_hz)
        num_out = -(-labels.shape[-1] * up // down)
    src = np.rint(np.arange(num_out) * (from_hz / to_hz)).astype(np.int64)
    return labels[..., np.clip(src, 0, labels.shape[-1] - 1)]


def lowpass(data: np.ndarray, rate: float, cutoff_hz: float, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth low-pass along the last axis (``sosfiltfilt``)."""
    if not 0 < cutoff_hz < rate / 2:
        raise ValueError(f"cutoff {cutoff_hz} Hz must be between 0 and Nyquist ({rate / 2} Hz)")
    from scipy import signal as sps

    data = np.asarray(data)
    sos = sps.butter(order, cutoff_hz, btype="low", fs=rate, output="sos")
    n = data.shape[-1]
    padlen = min(3 * (2 * len(sos) + 1), max(n - 1, 0))
    out = sps.sosfiltfilt(sos, data.astype(np.float64), axis=-1, padlen=padlen)
    return out.astype(data.dtype if data.dtype.kind == "f" else np.float64)


def gravity_split(acc: np.ndarray, rate: float, cutoff_hz: float = 0.3,
                  order: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(gravity, body): the low-pass part of acceleration and the rest (UCI HAR uses 0.3 Hz, order 3)."""
    acc = np.asarray(acc)
    gravity = lowpass(acc, rate, cutoff_hz, order)
    return gravity, acc - gravity


# ---------------------------------------------------------------- recordings
def resample_recording(rec: Recording, to_hz: float) -> Recording:
    """The recording at ``to_hz``: data anti-aliased, labels nearest."""
    if to_hz == rec.sample_rate_hz:
        return rec
    data = resample(rec.data, rec.sample_rate_hz, to_hz)
    labels = resample_labels(rec.labels, rec.sample_rate_hz, to_hz, data.shape[-1])
    return replace(rec, data=data, labels=labels, sample_rate_hz=float(to_hz))


def resample_dataset(ds: Dataset, to_hz: float) -> Dataset:
    return Dataset([resample_recording(r, to_hz) for r in ds.recordings], dict(ds.label_names), ds.name)


def lowpass_recording(rec: Recording, cutoff_hz: float, order: int = 4) -> Recording:
    return replace(rec, data=lowpass(rec.data, rec.sample_rate_hz, cutoff_hz, order))


def body_acceleration(rec: Recording, cutoff_hz: float = 0.3) -> Recording:
    """The recording with gravity removed from its accelerometer channels (gyro untouched)."""
    idx = [i for i, c in enumerate(rec.channels) if c in ACC]
    if not idx:
        raise ValueError(f"{rec.recording_id}: no accelerometer channels in {list(rec.channels)}")
    data = rec.data.copy()
    data[idx] = gravity_split(rec.data[idx], rec.sample_rate_hz, cutoff_hz)[1]
    return replace(rec, data=data)
