"""What every stream profile shares: the ``SampleBlock`` a decoder yields, the ``StreamDecoder`` shape, and
the helpers of the line- and message-based profiles (a line splitter, unit factors, a block builder)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

F32_MAX = float(np.finfo(np.float32).max) / 1e3  # larger values are not sensor readings (and overflow float32)
MAX_BAD_LINES = 20  # how many malformed lines/messages each decoder keeps for the report


@dataclass
class SampleBlock:
    data: np.ndarray            # float32 (channels, n) in m/s^2 and rad/s
    channels: tuple[str, ...]
    device_time_us: int | None  # device timestamp of the first sample (unwrapped); None if the format has none
    period_us: float | None     # device sample period, if the format says
    seq: int | None
    lost_packets: int = 0       # packets lost right before this block (sequence gap)
    overflow: int = 0           # samples the device itself dropped (reported in-stream)
    # Extension (optional): per-sample device times, int64 µs, for formats that stamp every
    # sample (text with a timestamp column, sensorserver); None otherwise.
    timestamps_us: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[1])


@runtime_checkable
class StreamDecoder(Protocol):
    stats: dict

    def feed(self, chunk: bytes) -> list[SampleBlock]: ...



class LineBuffer:
    """Splits a byte stream into lines (LF or CRLF); a line longer than ``max_line`` bytes
    (binary noise, wrong baud rate) is dropped and reported as one overlong line."""

    def __init__(self, max_line: int = 4096):
        self.max_line = max_line
        self.buf = bytearray()
        self.overlong = False

    def feed(self, chunk: bytes):
        """Yields (line: str | None, overlong: bool)."""
        self.buf += chunk
        while True:
            i = self.buf.find(b"\n")
            if i < 0:
                if len(self.buf) > self.max_line:
                    self.buf.clear()
                    if not self.overlong:
                        self.overlong = True
                        yield None, True
                return
            raw = bytes(self.buf[:i])
            del self.buf[: i + 1]
            if self.overlong:  # the end of a line already reported
                self.overlong = False
                continue
            if len(raw) > self.max_line:
                yield None, True
                continue
            yield raw.rstrip(b"\r").decode("utf-8", errors="replace"), False


def unit_factor(table: dict, unit: str, what: str) -> float:
    try:
        return table[unit]
    except KeyError:
        raise ValueError(f"{what} unit {unit!r}: expected one of {sorted(table)}") from None


TIME_UNITS = {"s": 1e6, "ms": 1e3, "us": 1.0, "ns": 1e-3}


class Blocks:
    """Accumulates single samples into one SampleBlock per ``feed`` call; a lost/corrupt
    unit in between splits the block (so a gap is never glued)."""

    def __init__(self, channels: tuple[str, ...]):
        self.channels = channels
        self.rows: list[list[float]] = []
        self.times: list[int] = []
        self.lost = 0
        self.out: list[SampleBlock] = []

    def add(self, row, t_us: int | None):
        self.rows.append(row)
        if t_us is not None:
            self.times.append(t_us)

    def gap(self, n: int = 1):
        self.flush()
        self.lost += n

    def flush(self):
        if not self.rows:
            return
        data = np.asarray(self.rows, dtype=np.float64).T.astype(np.float32)
        times = np.asarray(self.times, dtype=np.int64) if len(self.times) == len(self.rows) else None
        period = None  # these formats stamp samples (timestamps_us) but do not state a period
        self.out.append(SampleBlock(data=data, channels=self.channels,
                                    device_time_us=int(times[0]) if times is not None else None,
                                    period_us=period, seq=None, lost_packets=self.lost, timestamps_us=times))
        self.rows, self.times, self.lost = [], [], 0

    def take(self) -> list[SampleBlock]:
        self.flush()
        out, self.out = self.out, []
        return out
