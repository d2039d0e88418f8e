"""Recordings and window sets: the in-memory form of every dataset.

A ``Recording`` is one continuous capture already in the window contract's
units (m/s^2, rad/s), channel order and a single sample rate. Labels are
per sample; ``-1`` marks an unlabelled sample. A ``WindowSet`` is what
windowing produces from many recordings, with enough bookkeeping (subject,
recording, start sample) to split by subject and to trace a window back.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imuedge.window import check_channels

UNLABELLED = -1


@dataclass
class Recording:
    data: np.ndarray  # float32 (channels, samples), physical units
    labels: np.ndarray  # int64 (samples,), UNLABELLED where unknown
    channels: tuple[str, ...]
    sample_rate_hz: float
    subject: int
    recording_id: str
    source: str = ""  # file or dataset it came from, for error messages
    subject_name: str = ""  # the subject id as the data writes it ('p01'); '' when it is the number itself

    def __post_init__(self):
        self.channels = check_channels(self.channels)
        self.data = np.ascontiguousarray(self.data, dtype=np.float32)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.data.ndim != 2 or self.data.shape[0] != len(self.channels):
            raise ValueError(
                f"{self.recording_id}: data shape {self.data.shape} does not match "
                f"{len(self.channels)} channels {list(self.channels)}"
            )
        if self.labels.shape != (self.data.shape[1],):
            raise ValueError(
                f"{self.recording_id}: {self.labels.shape[0]} labels for {self.data.shape[1]} samples"
            )

    @property
    def subject_label(self) -> str:
        """The subject as the data names it: ``subject_name``, else the number."""
        return self.subject_name or str(self.subject)

    @property
    def num_samples(self) -> int:
        return int(self.data.shape[1])

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate_hz

    def select(self, channels: tuple[str, ...]) -> "Recording":
        """The same recording restricted to a subset of its channels."""
        missing = [c for c in channels if c not in self.channels]
        if missing:
            raise ValueError(f"{self.recording_id}: has no channel(s) {missing}; it has {list(self.channels)}")
        idx = [self.channels.index(c) for c in channels]
        return Recording(self.data[idx], self.labels, tuple(channels), self.sample_rate_hz,
                         self.subject, self.recording_id, self.source, self.subject_name)


@dataclass
class Dataset:
    """Recordings plus the names of their integer labels."""

    recordings: list[Recording]
    label_names: dict[int, str] = field(default_factory=dict)
    name: str = ""

    @property
    def subjects(self) -> list[int]:
        return sorted({r.subject for r in self.recordings})

    @property
    def subject_names(self) -> dict[int, str]:
        """Subject number -> the id the data gives it ('p01'; '7' for an integer id)."""
        return {r.subject: r.subject_label for r in sorted(self.recordings, key=lambda r: r.subject)}

    @property
    def channels(self) -> tuple[str, ...]:
        return self.recordings[0].channels if self.recordings else ()

    @property
    def sample_rate_hz(self) -> float:
        return self.recordings[0].sample_rate_hz if self.recordings else 0.0


@dataclass
class WindowSet:
    """Fixed-length windows cut from recordings."""

    x: np.ndarray  # float32 (N, channels, window)
    y: np.ndarray  # int64 (N,) class label of every sample in the window
    subject: np.ndarray  # int64 (N,)
    recording: np.ndarray  # object/str (N,) recording id
    start: np.ndarray  # int64 (N,) first sample index inside its recording
    channels: tuple[str, ...]
    sample_rate_hz: float
    label_names: dict[int, str] = field(default_factory=dict)
    subject_names: dict[int, str] = field(default_factory=dict)  # number -> id as the data writes it

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, mask_or_index) -> "WindowSet":
        idx = np.asarray(mask_or_index)
        return WindowSet(self.x[idx], self.y[idx], self.subject[idx], self.recording[idx], self.start[idx],
                         self.channels, self.sample_rate_hz, dict(self.label_names), dict(self.subject_names))

    def subject_label(self, number: int) -> str:
        """A subject number as the data names it ('p01'), the number itself when no name is known."""
        return self.subject_names.get(int(number), str(int(number)))

    @property
    def classes(self) -> list[int]:
        return sorted(int(c) for c in np.unique(self.y))
