"""Cutting recordings into fixed-length labelled windows, and per-channel z-scoring.

A window never crosses a recording boundary, a label change or an unlabelled
sample: each recording is split into runs of one constant label, and windows
of ``window`` samples start every ``hop`` samples from the start of each run.
Runs shorter than ``window`` give no window.

``unlabelled_windows`` is the self-supervised counterpart: windows over whole
recordings, label changes ignored and no label kept, so that pretraining can
pair a window with its neighbours in time without seeing any label.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from imuedge.data.recording import UNLABELLED, Dataset, WindowSet


def label_runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """``(start, stop, label)`` for every maximal run of one label, unlabelled runs left out."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return []
    edges = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [labels.size]])
    return [(int(a), int(b), int(labels[a])) for a, b in zip(starts, stops) if labels[a] != UNLABELLED]


def make_windows(dataset: Dataset, window: int, hop: int, classes=None) -> WindowSet:
    """Windows of ``window`` samples every ``hop`` samples inside constant-label runs.

    ``classes``: the label ids to keep (None: every labelled sample). Labels keep
    their ids; ``remap_labels`` numbers them 0..K-1.
    """
    keep = None if classes is None else {int(c) for c in classes}
    names = {k: v for k, v in dataset.label_names.items() if keep is None or k in keep}
    return cut_windows(dataset, window, hop, names,
                       lambda r: [run for run in label_runs(r.labels) if keep is None or run[2] in keep])


def unlabelled_windows(dataset: Dataset, window: int, hop: int) -> WindowSet:
    """Windows of ``window`` samples every ``hop`` samples over each WHOLE recording (they cross label
    changes and unlabelled stretches, never a recording boundary); ``y`` is ``UNLABELLED`` throughout.
    ``recording`` and ``start`` say where each window lies, which is what temporal-neighbour pretraining uses."""
    ws = cut_windows(dataset, window, hop, {}, lambda r: [(0, r.num_samples, UNLABELLED)])
    if not len(ws):
        raise ValueError(f"dataset {dataset.name!r}: no recording is {window} samples long")
    return ws


def cut_windows(dataset: Dataset, window: int, hop: int, label_names: dict, spans) -> WindowSet:
    """Windows starting every ``hop`` samples from the start of each ``(start, stop, label)`` of
    ``spans(recording)``, never reaching past ``stop``."""
    if window <= 0 or hop <= 0:
        raise ValueError(f"window ({window}) and hop ({hop}) must be positive")
    if not dataset.recordings:
        raise ValueError(f"dataset {dataset.name!r} has no recordings")
    channels, rate = dataset.channels, dataset.sample_rate_hz
    for r in dataset.recordings:
        if r.channels != channels or r.sample_rate_hz != rate:
            raise ValueError(f"{r.recording_id}: {list(r.channels)} at {r.sample_rate_hz} Hz differs from the "
                             f"dataset's {list(channels)} at {rate} Hz; select channels / resample first")
    xs, ys, subj, rec_ids, starts = [], [], [], [], []
    for r in dataset.recordings:
        for a, b, label in spans(r):
            first = np.arange(a, b - window + 1, hop)
            if first.size == 0:
                continue
            xs.append(np.lib.stride_tricks.sliding_window_view(r.data[:, a:b], window, axis=1)[:, first - a]
                      .transpose(1, 0, 2))
            ys.append(np.full(first.size, label))
            subj.append(np.full(first.size, r.subject))
            rec_ids.append(np.full(first.size, r.recording_id, dtype=object))
            starts.append(first)
    if xs:
        x = np.ascontiguousarray(np.concatenate(xs), dtype=np.float32)
        cat = [np.concatenate(v) for v in (ys, subj, rec_ids, starts)]
    else:
        x = np.zeros((0, len(channels), window), np.float32)
        cat = [np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, object), np.zeros(0, np.int64)]
    y, subject, recording, start = cat
    return WindowSet(x, y.astype(np.int64), subject.astype(np.int64), recording, start.astype(np.int64),
                     channels, rate, label_names, dataset.subject_names)


def remap_labels(ws: WindowSet, classes) -> WindowSet:
    """The windows of ``classes`` with labels renumbered 0..K-1 in the order given."""
    classes = [int(c) for c in classes]
    lookup = {c: k for k, c in enumerate(classes)}
    mask = np.isin(ws.y, classes)
    out = ws.subset(mask)
    out.y = np.array([lookup[int(c)] for c in out.y], dtype=np.int64)
    out.label_names = {k: ws.label_names.get(c, str(c)) for c, k in lookup.items()}
    return out


@dataclass
class ZScore:
    """Per-channel standardisation ``(x - mean) / std``; fit it on the training split only."""

    mean: np.ndarray  # (channels,)
    std: np.ndarray  # (channels,)

    @classmethod
    def fit(cls, ws: WindowSet, min_std: float = 1e-6) -> "ZScore":
        if len(ws) == 0:
            raise ValueError("cannot fit a ZScore on an empty window set")
        x = ws.x.astype(np.float64)
        mean = x.mean(axis=(0, 2))
        std = x.std(axis=(0, 2))
        return cls(mean.astype(np.float32), np.maximum(std, min_std).astype(np.float32))

    def apply(self, x):
        """Standardise an array ``(..., channels, samples)`` or a WindowSet (returns a new one)."""
        if isinstance(x, WindowSet):
            return replace(x, x=self.apply(x.x))
        x = np.asarray(x)
        if x.shape[-2] != self.mean.shape[0]:
            raise ValueError(f"{x.shape[-2]} channels, the ZScore has {self.mean.shape[0]}")
        return ((x - self.mean[:, None]) / self.std[:, None]).astype(np.float32)

    def to_dict(self) -> dict:
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, d: dict) -> "ZScore":
        return cls(np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32))


def read_windows_npz(path) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """(x (N, C, T) float32, y (N,) or None, class names or None) from an .npz of windows -- the file
    ``imuedge train --save-windows`` writes; ``y`` indexes ``class_names`` when both are there. A file that is
    not such an .npz is a ValueError saying so in one line."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            if "x" not in z:
                raise ValueError(f"{path}: no array 'x' (N, C, T) in the .npz")
            x = np.asarray(z["x"], dtype=np.float32)
            y = np.asarray(z["y"]) if "y" in z else None
            names = [str(n) for n in z["class_names"]] if "class_names" in z else None
    except (OSError, zipfile.BadZipFile, EOFError, TypeError) as e:
        raise ValueError(f"{path}: not an .npz of windows ({type(e).__name__}); expected x (N, C, T) [and y (N,)]") \
            from None
    except ValueError as e:
        if str(e).startswith(f"{path}: no array"):
            raise
        raise ValueError(f"{path}: not an .npz of windows ({e}); expected x (N, C, T) [and y (N,)]") from None
    if x.ndim != 3 or not len(x):
        raise ValueError(f"{path}: x has shape {x.shape}; expected windows (N, channels, samples)")
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: x holds non-finite values")
    if y is not None:
        if y.shape != (len(x),) or y.dtype.kind not in "iu" or (len(y) and y.min() < 0):
            raise ValueError(f"{path}: y has shape {y.shape} and type {y.dtype}; expected {len(x)} class indices")
        y = y.astype(np.int64)
        if names is not None and len(y) and y.max() >= len(names):
            raise ValueError(f"{path}: y holds class {int(y.max())} but class_names has {len(names)} names")
    return x, y, names

