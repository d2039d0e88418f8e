"""Sinks: where predictions go. ``emit(record: dict)``, ``flush()``, ``close()``.

``JsonLinesSink`` writes one JSON object per line (stdout or a file), ``CallbackSink``
calls a function, ``MajorityVote`` adds a ``smoothed`` class (the most frequent of the
last ``k`` predictions, ties to the most recent) before passing records on.
"""
from __future__ import annotations

import json
import sys
from collections import Counter, deque


class Sink:
    def emit(self, record: dict) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.flush()


class JsonLinesSink(Sink):
    def __init__(self, path: str | None = None, flush_every: int = 1):
        self.path = path
        self.f = sys.stdout if path in (None, "-") else open(path, "w", encoding="utf-8")
        self.flush_every = max(1, int(flush_every))
        self._n = 0

    def emit(self, record: dict) -> None:
        self.f.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")  # strict JSON
        self._n += 1
        if self._n % self.flush_every == 0:
            self.f.flush()

    def flush(self) -> None:
        try:
            self.f.flush()
        except ValueError:  # already closed
            pass

    def close(self) -> None:
        self.flush()
        if self.f is not sys.stdout:
            self.f.close()


class CallbackSink(Sink):
    def __init__(self, fn):
        self.fn = fn

    def emit(self, record: dict) -> None:
        self.fn(record)


class ListSink(Sink):
    """Keeps every record (tests, benchmarks)."""

    def __init__(self):
        self.records: list[dict] = []

    def emit(self, record: dict) -> None:
        self.records.append(record)


class MajorityVote(Sink):
    """Smoothing: adds ``smoothed`` = majority class of the last ``k`` predictions."""

    def __init__(self, inner: Sink, k: int = 5):
        if k < 1:
            raise ValueError(f"smoothing window must be >= 1, got {k}")
        self.inner, self.k = inner, k
        self.recent: deque = deque(maxlen=k)

    def emit(self, record: dict) -> None:
        if "class" in record:
            self.recent.append(record["class"])
            counts = Counter(self.recent)
            best = max(counts.values())
            record = {**record, "smoothed": next(c for c in reversed(self.recent) if counts[c] == best)}
        self.inner.emit(record)

    def flush(self) -> None:
        self.inner.flush()

    def close(self) -> None:
        self.inner.close()
