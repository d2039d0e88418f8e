"""Lines of comma/space/tab-separated numbers (Arduino/ESP32 sketches, the Edge Impulse data-forwarder
convention), with an optional leading timestamp column."""
from __future__ import annotations

import math
import re

import numpy as np

from imuedge.firmware_bridge import protocol as P
from imuedge.window import ACC_UNITS, CHANNELS, GYRO_UNITS

from .blocks import F32_MAX, MAX_BAD_LINES, TIME_UNITS, Blocks, LineBuffer, SampleBlock, unit_factor


_NUM = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_SPLIT = re.compile(r"[,;\s]+")
_LABELLED = re.compile(r"^[A-Za-z_][\w.]*\s*[:=]\s*(\S+)$")
_LABEL_SPLIT = re.compile(r"[,;\t]+|\s+(?=[A-Za-z_][\w.]*\s*[:=])")


class TextLineDecoder:
    """Profile ``text``: one sample per line, numbers separated by commas, semicolons,
    spaces or tabs (what ``Serial.print(ax); Serial.print(','); ...; Serial.println(gz)``
    sketches print and Edge Impulse's data forwarder reads). Arduino serial-plotter style
    ``ax:0.1,ay:0.2,...`` labels are accepted (the labels are ignored, order counts).

    Options:
      channels   names in column order (default: inferred from the first data line:
                 3 values -> acc_x..acc_z, 6 -> acc_x..gyro_z); any subset of CHANNELS,
                 in any order (columns are reordered to the canonical order on output).
      acc_unit   "m/s2" (default) | "g";   gyro_unit "rad/s" (default) | "dps"
      timestamp  None (default) | "ms" | "us" | "s": a leading column of device time,
                 unwrapped as an unsigned 32-bit counter (millis()/micros() wrap).

    A line that starts with a letter and is not a labelled sample ("Initializing IMU...",
    "MPU6050 found!") is text: counted in ``skipped``. A line that looks like data but
    does not parse (wrong column count, bad number, NaN, a line cut by a reset) is
    ``corrupt``: counted, reported in ``bad_lines`` as (line number, content), and the
    next block has ``lost_packets`` += 1 (a line is a "packet" here).

    stats keys: packets (data lines decoded), samples, lines, skipped, corrupt, lost,
    overlong (lines over 4096 bytes), time_resets, bad_lines (last 20), last_error.
    """

    def __init__(self, channels=None, acc_unit: str = "m/s2", gyro_unit: str = "rad/s",
                 timestamp: str | None = None, max_line: int = 4096):
        self.acc_factor = unit_factor(ACC_UNITS, acc_unit, "acc")
        self.gyro_factor = unit_factor(GYRO_UNITS, gyro_unit, "gyro")
        if timestamp is not None and timestamp not in TIME_UNITS:
            raise ValueError(f"timestamp unit {timestamp!r}: expected one of {sorted(TIME_UNITS)}")
        self.timestamp = timestamp
        self.columns: tuple[str, ...] | None = None
        if channels is not None:
            self._set_columns(tuple(channels))
        self.lines = LineBuffer(max_line)
        self.clock = P.TimestampUnwrapper()
        self.lineno = 0
        self.stats = {"packets": 0, "samples": 0, "lines": 0, "skipped": 0, "corrupt": 0, "lost": 0,
                      "overlong": 0, "time_resets": 0, "bad_lines": [], "last_error": None}

    def _set_columns(self, cols: tuple[str, ...]):
        unknown = [c for c in cols if c not in CHANNELS]
        if unknown or len(set(cols)) != len(cols) or not cols:
            raise ValueError(f"channels {list(cols)}: names from {list(CHANNELS)}, no repeats")
        self.columns = cols
        self.channels = tuple(c for c in CHANNELS if c in cols)
        self._order = [cols.index(c) for c in self.channels]
        self._scale = np.array([self.acc_factor if c.startswith("acc") else self.gyro_factor
                                for c in self.channels], dtype=np.float64)
        self._blocks = Blocks(self.channels)

    def _bad(self, line: str, why: str):
        st = self.stats
        st["corrupt"] += 1
        st["lost"] += 1
        st["last_error"] = f"line {self.lineno}: {why}: {line[:120]!r}"
        st["bad_lines"].append((self.lineno, line[:200]))
        del st["bad_lines"][:-MAX_BAD_LINES]
        if self.columns is not None:
            self._blocks.gap()

    def _line(self, line: str):
        st = self.stats
        st["lines"] += 1
        s = line.strip()
        if not s:
            return
        if s[0].isdigit() or s[0] in "+-.":
            tokens = [t for t in _SPLIT.split(s) if t]
        else:  # text, unless every field is "label:number" (Arduino serial-plotter style)
            fields = [f.strip() for f in _LABEL_SPLIT.split(s) if f.strip()]
            m = [_LABELLED.match(f) for f in fields]
            if not fields or not all(m):
                st["skipped"] += 1
                return
            tokens = [x.group(1) for x in m]
        if not all(_NUM.match(t) for t in tokens):
            return self._bad(line, "not all fields are numbers")
        vals = [float(t) for t in tokens]
        if not all(math.isfinite(v) and abs(v) < F32_MAX for v in vals):
            return self._bad(line, "non-finite or out-of-range number")
        t_us = None
        if self.timestamp is not None:
            if not vals:
                return self._bad(line, "no timestamp")
            t_raw = vals.pop(0)
            if t_raw < 0 or t_raw != int(t_raw) and self.timestamp in ("ms", "us"):
                return self._bad(line, "timestamp is not a non-negative integer")
        if self.columns is None:
            guess = {3: CHANNELS[:3], 6: CHANNELS}.get(len(vals))
            if guess is None:
                return self._bad(line, f"{len(vals)} values: pass channels=... (3 or 6 values are inferred)")
            self._set_columns(guess)
        if len(vals) != len(self.columns):
            return self._bad(line, f"{len(vals)} values, expected {len(self.columns)} {list(self.columns)}")
        if self.timestamp is not None:
            raw = int(t_raw) if self.timestamp in ("ms", "us") else t_raw
            if self.timestamp in ("ms", "us"):
                t_us = int(round(self.clock.update(raw) * TIME_UNITS[self.timestamp]))
                st["time_resets"] = self.clock.resets
            else:
                t_us = int(round(raw * TIME_UNITS[self.timestamp]))
        row = np.asarray(vals, dtype=np.float64)[self._order] * self._scale
        self._blocks.add(row.tolist(), t_us)
        st["packets"] += 1
        st["samples"] += 1

    def flush(self) -> list[SampleBlock]:
        """End of stream: decode a last line that has no newline (e.g. the end of a file)."""
        return self.feed(b"\n") if self.lines.buf and not self.lines.overlong else []

    def feed(self, chunk: bytes) -> list[SampleBlock]:
        for line, overlong in self.lines.feed(bytes(chunk)):
            self.lineno += 1
            if overlong:
                self.stats["overlong"] += 1
                self._bad("", "line longer than the limit (binary data or wrong baud rate?)")
                continue
            self._line(line)
        return self._blocks.take() if self.columns is not None else []
