"""Windower: the assembled stream -> windows of ``window`` samples every ``hop`` samples.

A fixed ring buffer (memory bounded by the window, whatever the stream does). Window
boundaries are stream sample indices counted from the first sample: window k starts at
``k * hop`` -- the same boundaries ``offline_predictions`` uses on a recording. A window
holding a NaN (a gap longer than the assembler's limit) is counted in ``skipped_gap``
and not emitted; after a grid reset (``reset()``), counting restarts at the next sample
so no window spans the reset.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Window:
    index: int  # windows emitted so far (0-based), including skipped ones
    start: int  # stream sample index of the first sample
    data: np.ndarray  # float32 (channels, window), a copy
    arrival: float  # host time (perf_counter s) the newest sample arrived
    made: float = 0.0  # host time the window was cut


class Windower:
    def __init__(self, channels: int, window: int, hop: int):
        self.C, self.W, self.hop = int(channels), int(window), int(hop)
        self.cap = self.W
        self.buf = np.zeros((self.C, self.cap), np.float32)
        self.arr = np.zeros(self.cap)
        self.total = 0  # samples pushed (stream index of the next sample)
        self.next_start = 0
        self.index = 0
        self.produced = 0
        self.skipped_gap = 0
        self.segment_start = 0

    def reset(self) -> None:
        """The grid restarted: drop the partial window, start the next one at the next sample."""
        self.next_start = self.total

    def push(self, data: np.ndarray, arrival: np.ndarray, now: float | None = None) -> list[Window]:
        out: list[Window] = []
        n = data.shape[1]
        i = 0
        while i < n:
            # write up to the end of the next window (so the ring never overflows)
            need_end = self.next_start + self.W
            take = min(n - i, max(1, need_end - self.total))
            take = min(take, self.cap)
            pos = self.total % self.cap
            first = min(take, self.cap - pos)
            self.buf[:, pos:pos + first] = data[:, i:i + first]
            self.arr[pos:pos + first] = arrival[i:i + first]
            if take > first:
                self.buf[:, :take - first] = data[:, i + first:i + take]
                self.arr[:take - first] = arrival[i + first:i + take]
            self.total += take
            i += take
            while self.total >= self.next_start + self.W and self.total - self.next_start <= self.cap:
                s = self.next_start
                p = s % self.cap  # the ring holds exactly one window: it starts at p and wraps
                w = np.concatenate((self.buf[:, p:], self.buf[:, :p]), axis=1) if p else self.buf.copy()
                self.next_start += self.hop
                self.index += 1
                if np.isnan(w).any():
                    self.skipped_gap += 1
                    continue
                self.produced += 1
                out.append(Window(self.index - 1, s, w, float(self.arr[(s + self.W - 1) % self.cap]), now or 0.0))
            if self.next_start > self.total:  # hop > window: skip samples between windows
                skip = min(self.next_start - self.total, n - i)
                self.total += skip
                i += skip
        return out
