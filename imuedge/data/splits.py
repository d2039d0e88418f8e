"""Subject-disjoint splits and few-shot selection, deterministic by seed.

Windows of one person are strongly correlated, so train / val / test are split
by subject: no subject's windows appear in two splits.
"""
from __future__ import annotations

import warnings

import numpy as np

from imuedge.data.recording import WindowSet

SPLITS = ("train", "val", "test")


def subject_split(subjects, seed: int = 0,
                  ratios: tuple[float, float, float] = (0.6, 0.2, 0.2)) -> dict[str, list[int]]:
    """Shuffle the distinct subjects by ``seed`` and cut them into train/val/test by ``ratios``.

    Every split gets at least one subject (so at least three are needed).
    """
    if len(ratios) != 3 or any(not r > 0 for r in ratios):
        raise ValueError(f"ratios must be three positive numbers (train, val, test), got {ratios}")
    ids = sorted({int(s) for s in subjects})
    n = len(ids)
    if n < 3:
        raise ValueError(f"a subject-disjoint split needs at least 3 subjects, got {n} ({ids}); "
                         f"add a 'subject' column to the recordings")
    total = float(sum(ratios))
    n_val = max(1, round(n * ratios[1] / total))
    n_test = max(1, round(n * ratios[2] / total))
    while n - n_val - n_test < 1:  # keep train non-empty
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    order = [ids[i] for i in np.random.default_rng(seed).permutation(n)]
    n_train = n - n_val - n_test
    return {"train": sorted(order[:n_train]), "val": sorted(order[n_train:n_train + n_val]),
            "test": sorted(order[n_train + n_val:])}


def distinct_subject_split(subjects, seed: int = 0, ratios: tuple[float, float, float] = (0.6, 0.2, 0.2),
                           max_draws: int = 64) -> dict[str, list[int]]:
    """``subject_split`` whose test subjects differ from those of every smaller seed, while the subjects allow
    another set: seed 0 is ``subject_split(subjects, 0)``; a seed whose draw repeats an earlier seed's test
    subjects draws again (up to ``max_draws`` times). Runs over seeds 0..k then hold out k + 1 different
    subject sets, so their spread never counts one split twice."""
    if seed < 0:
        return subject_split(subjects, seed, ratios)  # refused there, with its message
    taken: set[tuple[int, ...]] = set()
    for s in range(seed + 1):
        for draw in range(max_draws):
            split = subject_split(subjects, s if draw == 0 else [s, draw], ratios)
            if tuple(split["test"]) not in taken:
                break
        taken.add(tuple(split["test"]))
    return split


def split_windows(ws: WindowSet, split: dict[str, list[int]]) -> dict[str, WindowSet]:
    """The windows of each split's subjects."""
    seen: dict[int, str] = {}
    for name, ids in split.items():
        for s in ids:
            if int(s) in seen:
                raise ValueError(f"subject {s} is in both {seen[int(s)]!r} and {name!r}")
            seen[int(s)] = name
    return {name: ws.subset(np.isin(ws.subject, np.asarray(ids, dtype=np.int64))) for name, ids in split.items()}


def few_shot_indices(y, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` windows per class of ``y``, sorted; a class with fewer gives all it has (with a warning).

    Each class is drawn with its own generator seeded by (seed, class), so the
    choice for one class does not depend on the others, and for one seed the
    ``n`` picked windows are a prefix of the ``n + 1`` picked ones.
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    y = np.asarray(y)
    picked = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if len(idx) < n:
            warnings.warn(f"class {int(c)} has only {len(idx)} windows; taking all of them instead of {n}",
                          stacklevel=2)
        order = np.random.default_rng([int(seed), int(c) & 0xFFFFFFFF]).permutation(len(idx))
        picked.append(idx[order[:n]])
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)
