"""The window contract: what every imuedge model consumes.

A window is a float32 array ``(channels, samples)`` in physical units --
acceleration in m/s^2, angular rate in rad/s -- at a stated sample rate and
in a stated channel order (a subset of ``CHANNELS``, in that order).
Datasets are converted to this once, at load time; normalisation and the
spectrogram happen inside the model so the runtime feeds raw windows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CHANNELS: tuple[str, ...] = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
ACC: tuple[str, ...] = CHANNELS[:3]
GYRO: tuple[str, ...] = CHANNELS[3:]
UNITS: dict[str, str] = {**{c: "m/s^2" for c in ACC}, **{c: "rad/s" for c in GYRO}}

STANDARD_GRAVITY = 9.80665  # m/s^2 per g
DEG_TO_RAD = np.pi / 180.0

# Physical plausibility: a value beyond these is a wrong unit or a corrupt value, not a motion. Consumer
# IMUs read up to +-16 g and +-2000 dps; impact sensors up to +-200 g and a few gyroscopes +-4000 dps.
# The bounds leave room for all but impact sensors; a data set from one raises them
# (RecordingsConfig.max_acc / max_gyro, `--max-acc` / `--max-gyro`).
MAX_ACC = 50 * STANDARD_GRAVITY  # m/s^2 (50 g)
MAX_GYRO = 4000 * np.pi / 180.0  # rad/s (4000 deg/s)

# Unit names a user may declare, and the factor to the contract's unit.
ACC_UNITS = {"m/s2": 1.0, "m/s^2": 1.0, "g": STANDARD_GRAVITY}
GYRO_UNITS = {"rad/s": 1.0, "dps": DEG_TO_RAD, "deg/s": DEG_TO_RAD}


def check_channels(channels: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Validate a channel list: known names, no repeats, canonical order."""
    channels = tuple(channels)
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise ValueError(f"unknown channel(s) {unknown}; known: {list(CHANNELS)}")
    if len(set(channels)) != len(channels):
        raise ValueError(f"repeated channel in {list(channels)}")
    order = [CHANNELS.index(c) for c in channels]
    if order != sorted(order):
        raise ValueError(f"channels {list(channels)} are not in canonical order {list(CHANNELS)}")
    if not channels:
        raise ValueError("a window needs at least one channel")
    return channels


def sensor_groups(channels: tuple[str, ...]) -> list[tuple[str, list[int]]]:
    """Split channels into sensors: [("acc", [idx...]), ("gyro", [idx...])]."""
    groups = []
    for name, members in (("acc", ACC), ("gyro", GYRO)):
        idx = [i for i, c in enumerate(channels) if c in members]
        if idx:
            groups.append((name, idx))
    return groups


@dataclass(frozen=True)
class WindowSpec:
    """Input contract of a model: channels, rate, window length and hop (samples)."""

    channels: tuple[str, ...] = CHANNELS
    sample_rate_hz: float = 50.0
    window: int = 128
    hop: int = 64
    units: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "channels", check_channels(self.channels))
        object.__setattr__(self, "units", {c: UNITS[c] for c in self.channels})
        if self.window <= 0 or self.hop <= 0:
            raise ValueError(f"window ({self.window}) and hop ({self.hop}) must be positive")
        if self.sample_rate_hz <= 0:
            raise ValueError(f"sample rate must be positive, got {self.sample_rate_hz}")

    def to_dict(self) -> dict:
        return {
            "channels": list(self.channels),
            "sample_rate_hz": self.sample_rate_hz,
            "window": self.window,
            "hop": self.hop,
            "units": dict(self.units),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "WindowSpec":
        return cls(tuple(d["channels"]), float(d["sample_rate_hz"]), int(d["window"]), int(d["hop"]))
