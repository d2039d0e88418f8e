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
    gap_log: list = field(default_factory=list)  # (device time s, missing seconds, kind), last 100
    # least squares host = a + b * device: n, sums of d, h, d*d, d*h (seconds from the first block)
    drift_sums: list = field(default_factory=lambda: [0.0] * 5, repr=False)

    @property
    def clock_drift_ppm(self) -> float | None:
        """The device clock against the host's, ppm, once there is about a second of device time."""
        n, sd, sh, sdd, sdh = self.drift_sums
        den = n * sdd - sd * sd
        if n >= 10 and den > 0 and sd > n:
            return round((n * sdh - sd * sh) / den * 1e6 - 1e6, 1)
        return None


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
        self._rows: slice | None = None  # the same rows as a slice when they are in order (no copy)
        self._stream_channels = None
        self._in_period: float | None = None
        self._pending: list = []  # blocks held while the rate is measured
        self._counter = 0  # sample counter for streams without time
        self._last_t: float | None = None  # device time (µs) of the last input (resample: filtered, shifted back)
        self._last_x: np.ndarray | None = None
        self._next_out: float | None = None  # resample mode: device time of the next output sample
        self._box = 1
        self._tail: np.ndarray | None = None  # resample mode: the last `box` raw inputs (float64)
        self._none = np.zeros((len(self.channels), 0), np.float32)
        self._raw_last_t: float | None = None  # resample mode: device time (µs) of the last raw input
        self._d0: float | None = None  # first device time (s) and arrival: the drift fit's origin
        self._h0 = 0.0

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
        lo = self._idx[0]
        self._rows = slice(lo, lo + len(self._idx)) if self._idx == list(range(lo, lo + len(self._idx))) else None

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
    def _clock(self, block, n: int):
        """(device time µs of the first sample, of the last, per-sample stamps or None); None when the
        stream has no time and its rate is not known yet. Without stamps the samples are evenly spaced."""
        ts = getattr(block, "timestamps_us", None)
        if ts is not None:
            ts = np.asarray(ts, dtype=np.float64)
            return float(ts[0]), float(ts[-1]), ts
        if block.device_time_us is not None and block.period_us:
            t0 = float(block.device_time_us)
            return t0, t0 + (n - 1) * float(block.period_us), None
        if self._in_period is None:
            return None
        self._counter += int(block.lost_packets or 0) + int(block.overflow or 0)
        t0 = self._counter * self._in_period
        self._counter += n
        return t0, t0 + (n - 1) * self._in_period, None

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
        x = block.data
        if x.dtype != np.float32:
            x = np.asarray(x, dtype=np.float32)
        n = x.shape[1]
        if n == 0:
            return self._empty()
        x = x[self._rows] if self._rows is not None else x[self._idx]
        t0, t_last, ts = self._clock(block, n)
        self._track_drift(t0, arrival)
        if self.stats.mode == "passthrough":
            data, reset = self._passthrough(x, t0, t_last)
        else:
            data, reset = self._resample(x, t0, t_last, ts)
        m = data.shape[1]
        self.stats.samples_out += m
        arr = np.empty(m)
        arr.fill(arrival)
        return data, arr, reset

    def _log_gap(self, t_us: float, missing_us: float, kind: str) -> None:
        st = self.stats
        st.gaps += 1
        st.gap_log.append((round(t_us / 1e6, 6), round(missing_us / 1e6, 6), kind))
        del st.gap_log[:-100]

    def _passthrough(self, x: np.ndarray, t0: float, t_last: float):
        p = self._in_period
        reset = False
        parts = []
        if self._last_t is not None:
            delta = t0 - (self._last_t + p)
            if delta < -p / 2 or delta > self.max_fill_us:
                self._log_gap(t0, max(delta, 0.0), "reset")
                self.stats.resets += 1
                reset = True
            elif delta > p / 2:
                m = int(round(delta / p))
                if (m + 1) * p <= self.max_gap_us:  # bridge: linear between the neighbours
                    w = (np.arange(1, m + 1) / (m + 1)).astype(np.float32)
                    parts.append(self._last_x[:, None] + w[None] * (x[:, :1] - self._last_x[:, None]))
                    self.stats.gap_samples_interpolated += m
                    self._log_gap(t0, m * p, "interpolated")
                else:
                    parts.append(np.full((x.shape[0], m), np.nan, np.float32))
                    self.stats.gap_samples_missing += m
                    self._log_gap(t0, m * p, "missing")
        self._last_t, self._last_x = t_last, x[:, -1].copy()
        if parts:
            parts.append(x)
            return np.concatenate(parts, axis=1), reset
        return x, reset

    def _resample(self, x: np.ndarray, t0: float, t_last: float, ts: np.ndarray | None):
        """Anti-alias (a box filter over the last ``box`` inputs, centred: its times shift back by
        (box - 1) / 2 input periods), then interpolate linearly onto the model grid, starting from the last
        filtered sample of the previous packet (the anchor). A packet that follows the previous one by one
        period takes the short path; gaps, resets, per-sample stamps and the first packet the general one."""
        p = self._in_period
        if ts is None and self._last_t is not None and 0.5 * p < t0 - self._raw_last_t <= 1.5 * p:
            return self._resample_next(x, t0, t_last), False
        return self._resample_any(x, t0, t_last, ts)

    def _resample_next(self, x: np.ndarray, t0: float, t_last: float) -> np.ndarray:
        b, n = self._box, x.shape[1]
        raw = np.concatenate((self._tail, x), axis=1)  # float64: the last b inputs of the previous packet, this one
        self._tail = raw[:, n:]
        self._raw_last_t = t_last
        shift = (b - 1) / 2 * self._in_period
        anchor, f_last = self._last_t, t_last - shift
        self._last_t = f_last
        P, nxt = self.period_us, self._next_out
        m = int((f_last - nxt) // P) + 1 if f_last >= nxt else 0
        if m == 0:
            return self._none
        # Filtered input j (0: the anchor, the previous packet's last) is the mean of raw[:, j:j + b]; an output
        # between filtered inputs i and i + 1 at fraction w is raw[:, i:i + b + 1] weighted
        # ((1 - w), 1, ..., 1, w) / b: all outputs are one product raw @ M.
        d0 = t0 - shift - anchor  # anchor -> first filtered input, µs
        step = (t_last - t0) / (n - 1) if n > 1 else d0
        M = np.zeros((b + n, m))
        inv = 1.0 / b
        for k in range(m):
            q = nxt + k * P - anchor
            pos = q / d0 if q < d0 else 1.0 + (q - d0) / step
            i = min(int(pos), n - 1)
            w = pos - i
            col = M[:, k]
            col[i + 1:i + b] = inv
            col[i] = (1.0 - w) * inv
            col[i + b] = w * inv
        y = (raw @ M).astype(np.float32)
        self._next_out = nxt + m * P
        return y

    def _box_filter(self, x: np.ndarray, t0: float) -> np.ndarray:
        """Mean of each input and the ``box - 1`` before it: the last inputs of the previous packet when this
        one follows it by one period; else (start, gap, reset) the first sample repeated."""
        b, n = self._box, x.shape[1]
        p = self._in_period
        follows = self._raw_last_t is not None and 0.5 * p < t0 - self._raw_last_t <= 1.5 * p
        buf = np.empty((x.shape[0], b + n))
        buf[:, 0] = 0.0
        buf[:, 1:b] = self._tail[:, 1:] if follows else x[:, :1]
        buf[:, b:] = x
        self._tail = buf[:, n:]  # the last b inputs
        if b == 1:
            return x
        c = np.cumsum(buf, axis=1)
        return ((c[:, b:] - c[:, :n]) * (1.0 / b)).astype(np.float32)

    def _resample_any(self, x: np.ndarray, t0: float, t_last: float, ts: np.ndarray | None):
        reset = False
        p_in, n = self._in_period, x.shape[1]
        shift = (self._box - 1) / 2 * p_in
        last_t = self._last_t
        last_x = self._tail.mean(axis=1).astype(np.float32) if last_t is not None else None  # the anchor
        filt = self._box_filter(x, t0)
        self._raw_last_t = t_last
        f0, f_last = t0 - shift, t_last - shift  # filtered times of the first and last input
        if last_t is not None and (f0 < last_t or f0 - last_t > self.max_fill_us):
            self._log_gap(f0, max(f0 - last_t, 0.0), "reset")
            self.stats.resets += 1
            reset = True
            last_t = None
        if last_t is None:
            self._next_out = f0
        gaps = False
        if last_t is not None and f0 - last_t > 1.5 * p_in:
            kind = "interpolated" if f0 - last_t <= self.max_gap_us else "missing"
            self._log_gap(f0, f0 - last_t - p_in, kind)
            gaps = True
        if ts is not None and n > 1:
            step = np.diff(ts)
            for i in np.flatnonzero(step > 1.5 * p_in):
                kind = "interpolated" if step[i] <= self.max_gap_us else "missing"
                self._log_gap(float(ts[i + 1]) - shift, float(step[i]) - p_in, kind)
                gaps = True
        self._last_t = f_last
        P = self.period_us
        m = int((f_last - self._next_out) // P) + 1 if f_last >= self._next_out else 0
        if m == 0:
            return self._none, reset
        q = self._next_out + np.arange(m) * P
        tf = ts - shift if ts is not None else f0 + np.arange(n) * ((t_last - t0) / (n - 1) if n > 1 else p_in)
        if last_t is None:
            tt, xx = tf, filt
        else:
            tt = np.concatenate([[last_t], tf])
            xx = np.concatenate([last_x[:, None], filt], axis=1)
        if len(tt) == 1:
            y = np.repeat(xx, m, axis=1)
        else:
            i = np.searchsorted(tt, q, side="right") - 1
            i = np.minimum(np.maximum(i, 0), len(tt) - 2)
            span = tt[i + 1] - tt[i]
            w = ((q - tt[i]) / np.where(span > 0, span, 1)).astype(np.float32)
            lo = xx[:, i]
            y = lo + w * (xx[:, i + 1] - lo)
            if gaps:
                hole = span > self.max_gap_us
                if hole.any():
                    y[:, hole] = np.nan
                    self.stats.gap_samples_missing += int(hole.sum())
                self.stats.gap_samples_interpolated += int(((span > 1.5 * p_in) & ~hole).sum())
        self._next_out += m * P
        return y.astype(np.float32, copy=False), reset

    # ------------------------------------------------------------ drift
    def _track_drift(self, t_dev_us: float, arrival: float) -> None:
        if self._d0 is None:
            self._d0, self._h0 = t_dev_us / 1e6, arrival
        d, h = t_dev_us / 1e6 - self._d0, arrival - self._h0
        s = self.stats.drift_sums
        s[0] += 1
        s[1] += d
        s[2] += h
        s[3] += d * d
        s[4] += d * h
