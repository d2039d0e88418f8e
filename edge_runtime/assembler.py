"""Assembler: decoded sample blocks -> one continuous stream on the model's grid.

It does, per block:

* channel selection: the model's channels, in its order (a stream lacking one is
  refused at the first block, naming both sides);
* timing: each sample's device time (per-sample stamps, else block start + i x period,
  else a sample counter at the declared or measured rate);
* rate check: the stream rate (from the device's period / timestamps / ``--rate``, else
  measured from arrival times over the first ``measure_s`` seconds) against the model's.
  Within ``rate_tolerance`` (1 %) samples pass through untouched (bit-exact); a faster
  stream is anti-aliased (box filter) and linearly resampled onto the model grid; a
  slower stream (upsampling) or one more than ``max_ratio`` times faster is refused;
* gaps (from device time, or lost sequence numbers when there is no time): a gap up to
  ``max_gap_s`` is bridged by linear interpolation; a longer one is filled with NaN so
  the windower can skip the windows that span it (never glued); a gap longer than
  ``max_fill_s``, or time going backwards (device reboot), restarts the grid;
* clock drift: the device clock against the host's (ppm, least squares over the run).

``feed(block, arrival)`` returns ``(data (C, n) float32, arrival (n,) float64, reset)``
where ``reset`` says the grid restarted before these samples.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class StreamMismatch(ValueError):
    """The stream cannot feed this model (channels, rate); the message names both sides."""


@dataclass
class AssemblerStats:
    samples_in: int = 0
    samples_out: int = 0
    gaps: int = 0  # gaps bridged or NaN-filled
    gap_samples_interpolated: int = 0
    gap_samples_missing: int = 0  # NaN-filled: windows spanning them are not predicted
    resets: int = 0  # grid restarts (long outage, device reboot)
    overflow: int = 0  # samples the device says it dropped
    lost_packets: int = 0
    stream_rate_hz: float | None = None
    rate_source: str | None = None  # device | timestamps | declared | measured
    mode: str | None = None  # passthrough | resample
    clock_drift_ppm: float | None = None
    gap_log: list = field(default_factory=list)  # (device time s, missing seconds, kind), last 100


class Assembler:
    def __init__(self, channels, rate_hz: float, *, max_gap_s: float = 0.1, max_fill_s: float = 30.0,
                 rate_tolerance: float = 0.01, max_ratio: float = 16.0, declared_rate: float | None = None,
                 measure_s: float = 2.0, allow_upsample: bool = False, model_name: str = "model"):
        self.channels = tuple(channels)
        self.rate = float(rate_hz)
        self.period_us = 1e6 / self.rate
        self.max_gap_us = max_gap_s * 1e6
        self.max_fill_us = max_fill_s * 1e6
        self.tol, self.max_ratio, self.allow_upsample = rate_tolerance, max_ratio, allow_upsample
        self.declared_rate = declared_rate
        self.measure_s = measure_s
        self.model_name = model_name
        self.stats = AssemblerStats()
        self._idx: list[int] | None = None
        self._stream_channels = None
        self._in_period: float | None = None
        self._pending: list = []  # blocks held while the rate is measured
        self._counter = 0  # sample counter for streams without time
        self._last_t: float | None = None  # device time (µs) of the last input sample
        self._last_x: np.ndarray | None = None
        self._next_out: float | None = None  # resample mode: device time of the next output sample
        self._box = 1
        self._tail: np.ndarray | None = None  # resample mode: last box-1 inputs for the filter
        self._drift = np.zeros(5)  # sums for least squares host = a + b * device

    # ------------------------------------------------------------ checks
    def _check_channels(self, block_channels) -> None:
        if self._stream_channels == tuple(block_channels):
            return
        missing = [c for c in self.channels if c not in block_channels]
        if missing:
            raise StreamMismatch(f"channel mismatch: {self.model_name} needs {list(self.channels)}, "
                                 f"the stream has {list(block_channels)} (missing {missing})")
        self._stream_channels = tuple(block_channels)
        self._idx = [list(block_channels).index(c) for c in self.channels]

    def _set_rate(self, rate: float, source: str) -> None:
        st = self.stats
        st.stream_rate_hz, st.rate_source = float(rate), source
        self._in_period = 1e6 / rate
        ratio = rate / self.rate
        if abs(ratio - 1) <= self.tol:
            st.mode = "passthrough"
            return
        if ratio < 1 and not self.allow_upsample:
            raise StreamMismatch(f"rate mismatch: {self.model_name} expects {self.rate:g} Hz, the stream runs at "
                                 f"{rate:.4g} Hz ({source}); upsampling a slower stream invents the model's upper "
                                 f"band -- refused (re-export the model at {rate:.4g} Hz, or --allow-upsample)")
        if ratio > self.max_ratio:
            raise StreamMismatch(f"rate mismatch: {self.model_name} expects {self.rate:g} Hz, the stream runs at "
                                 f"{rate:.4g} Hz ({source}), more than {self.max_ratio:g}x faster -- refused "
                                 f"(set the device to a lower rate)")
        st.mode = "resample"
        self._box = max(1, int(np.floor(ratio)))

    def check_declared(self, rate: float | None, channels=None) -> None:
        """Check what is known before any data (declared rate and channels): fail at start."""
        if channels is not None:
            self._check_channels(tuple(channels))
        if rate is not None:
            self._set_rate(rate, "declared")

    # ------------------------------------------------------------ timing
    def _times(self, block) -> np.ndarray | None:
        n = block.data.shape[1]
        if getattr(block, "timestamps_us", None) is not None:
            return np.asarray(block.timestamps_us, dtype=np.float64)
        if block.device_time_us is not None and block.period_us:
            return block.device_time_us + np.arange(n) * float(block.period_us)
        if self._in_period is None:
            return None
        lost = int(block.lost_packets or 0) + int(block.overflow or 0)
        self._counter += lost
        t = (self._counter + np.arange(n)) * self._in_period
        self._counter += n
        return t

    def _rate_from_block(self, block) -> tuple[float, str] | None:
        if block.period_us:
            return 1e6 / float(block.period_us), "device"
        ts = getattr(block, "timestamps_us", None)
        if ts is not None and len(ts) > 1:
            d = np.diff(np.asarray(ts, dtype=np.float64))
            d = d[d > 0]
            if len(d):
                return 1e6 / float(np.median(d)), "timestamps"
        if self.declared_rate:
            return float(self.declared_rate), "declared"
        return None

    # ------------------------------------------------------------ main
    def feed(self, block, arrival: float) -> tuple[np.ndarray, np.ndarray, bool]:
        self._check_channels(block.channels)
        st = self.stats
        st.samples_in += block.data.shape[1]
        st.overflow += int(block.overflow or 0)
        st.lost_packets += int(block.lost_packets or 0)
        if st.stream_rate_hz is None:
            found = self._rate_from_block(block)
            if found is None:  # measure from arrival times: hold blocks until measure_s has passed
                self._pending.append((block, arrival))
                t0, n = self._pending[0][1], sum(b.data.shape[1] for b, _ in self._pending[:-1])
                if arrival - t0 < self.measure_s or n < 2:
                    return self._empty()
                self._set_rate(n / (arrival - t0), "measured")
                held, self._pending = self._pending, []
                return self._concat([self._feed(b, a) for b, a in held])
            self._set_rate(*found)
        return self._feed(block, arrival)

    def flush_pending(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """At end of stream: blocks still held for rate measurement (short streams)."""
        if not self._pending:
            return self._empty()
        if self.stats.stream_rate_hz is None:
            rate = self.declared_rate or self.rate
            self._set_rate(rate, "assumed (stream too short to measure)")
        held, self._pending = self._pending, []
        return self._concat([self._feed(b, a) for b, a in held])

    def _empty(self):
        return np.zeros((len(self.channels), 0), np.float32), np.zeros(0), False

    @staticmethod
    def _concat(parts):
        if not parts:
            return np.zeros((0, 0), np.float32), np.zeros(0), False
        return (np.concatenate([p[0] for p in parts], axis=1), np.concatenate([p[1] for p in parts]),
                any(p[2] for p in parts))

    def _feed(self, block, arrival: float):
        x = np.asarray(block.data, dtype=np.float32)[self._idx]
        t = self._times(block)
        n = x.shape[1]
        if n == 0:
            return self._empty()
        self._track_drift(t[0], arrival)
        if self.stats.mode == "passthrough":
            out = self._passthrough(x, t)
        else:
            out = self._resample(x, t)
        data, reset = out
        self.stats.samples_out += data.shape[1]
        return data, np.full(data.shape[1], arrival), reset

    def _log_gap(self, t_us: float, missing_us: float, kind: str) -> None:
        st = self.stats
        st.gaps += 1
        st.gap_log.append((round(t_us / 1e6, 6), round(missing_us / 1e6, 6), kind))
        del st.gap_log[:-100]

    def _passthrough(self, x: np.ndarray, t: np.ndarray):
        p = self._in_period
        reset = False
        parts = []
        if self._last_t is not None:
            delta = t[0] - (self._last_t + p)
            if delta < -p / 2 or delta > self.max_fill_us:
                self._log_gap(t[0], max(delta, 0.0), "reset")
                self.stats.resets += 1
                reset = True
            elif delta > p / 2:
                m = int(round(delta / p))
                if (m + 1) * p <= self.max_gap_us:  # bridge: linear between the neighbours
                    w = (np.arange(1, m + 1) / (m + 1)).astype(np.float32)
                    parts.append(self._last_x[:, None] + w[None] * (x[:, :1] - self._last_x[:, None]))
                    self.stats.gap_samples_interpolated += m
                    self._log_gap(t[0], m * p, "interpolated")
                else:
                    parts.append(np.full((x.shape[0], m), np.nan, np.float32))
                    self.stats.gap_samples_missing += m
                    self._log_gap(t[0], m * p, "missing")
        parts.append(x)
        self._last_t, self._last_x = float(t[-1]), x[:, -1].copy()
        return (np.concatenate(parts, axis=1) if len(parts) > 1 else x), reset

    def _resample(self, x: np.ndarray, t: np.ndarray):
        reset = False
        p_in = self._in_period
        # anti-alias: box filter over the last `box` inputs, centred (time shifted back)
        if self._box > 1:
            if self._tail is not None and self._last_t is not None and t[0] - self._last_t <= 1.5 * p_in:
                xx = np.concatenate([self._tail, x], axis=1)
            else:
                xx = np.concatenate([np.repeat(x[:, :1], self._box - 1, axis=1), x], axis=1)
            c = np.cumsum(np.concatenate([np.zeros((x.shape[0], 1)), xx.astype(np.float64)], axis=1), axis=1)
            filt = ((c[:, self._box:] - c[:, :-self._box]) / self._box).astype(np.float32)
            self._tail = xx[:, -(self._box - 1):]
            tf = t - (self._box - 1) / 2 * p_in
        else:
            filt, tf = x, t
        if self._last_t is not None and (tf[0] < self._last_t or tf[0] - self._last_t > self.max_fill_us):
            self._log_gap(tf[0], max(tf[0] - self._last_t, 0.0), "reset")
            self.stats.resets += 1
            reset = True
            self._last_t = None
        if self._last_t is None:
            tt, xx = tf, filt
            self._next_out = float(tf[0])
        else:
            tt = np.concatenate([[self._last_t], tf])
            xx = np.concatenate([self._last_x[:, None], filt], axis=1)
            step = np.diff(tt)
            big = np.nonzero(step > max(1.5 * p_in, 0))[0]
            for i in big:
                kind = "interpolated" if step[i] <= self.max_gap_us else "missing"
                self._log_gap(tt[i + 1], step[i] - p_in, kind)
        q = self._next_out + np.arange(int(np.floor((tt[-1] - self._next_out) / self.period_us)) + 1) * self.period_us
        q = q[q <= tt[-1]]
        if len(tt) == 1:
            y = np.repeat(xx, len(q), axis=1)
        else:
            i = np.clip(np.searchsorted(tt, q, side="right") - 1, 0, len(tt) - 2)
            span = tt[i + 1] - tt[i]
            w = ((q - tt[i]) / np.where(span > 0, span, 1)).astype(np.float32)
            y = xx[:, i] + w[None] * (xx[:, i + 1] - xx[:, i])
            hole = span > self.max_gap_us
            if hole.any():
                y[:, hole] = np.nan
                self.stats.gap_samples_missing += int(hole.sum())
            self.stats.gap_samples_interpolated += int(((span > 1.5 * p_in) & ~hole).sum())
        if len(q):
            self._next_out = float(q[-1] + self.period_us)
        self._last_t, self._last_x = float(tt[-1]), xx[:, -1].copy()
        return y.astype(np.float32, copy=False), reset

    # ------------------------------------------------------------ drift
    def _track_drift(self, t_dev_us: float, arrival: float) -> None:
        d, h = t_dev_us / 1e6, arrival
        s = self._drift
        if s[0] == 0:
            self._d0, self._h0 = d, h
        d, h = d - self._d0, h - self._h0
        s += (1, d, h, d * d, d * h)
        n, sd, sh, sdd, sdh = s
        den = n * sdd - sd * sd
        if n >= 10 and den > 0 and sd / n > 1.0:  # at least ~a second of device time
            self.stats.clock_drift_ppm = round((n * sdh - sd * sh) / den * 1e6 - 1e6, 1)
