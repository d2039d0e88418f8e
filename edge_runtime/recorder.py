"""``imuedge record``: a live source -> a CSV recording the data loaders read.

Rows are written as samples arrive (flushed every block, so a crash or Ctrl-C keeps
what was captured) in the recordings format (``imuedge.data.recordings``):
``timestamp`` (device seconds from the first sample), the sensor columns with their
units in the header (``acc_x[m/s2]`` ...), ``label`` and ``subject``. Samples are
written as the device sent them, gaps and all: the loader resamples onto the grid and
leaves samples inside a gap unlabelled, so no training window spans a gap.
"""
from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

from imuedge.window import ACC

from .sources import Source, SourceDisconnected, SourceError


class Recorder:
    def __init__(self, source: Source, decoder_factory, out: str | Path, label: str = "", subject: int = 0,
                 rate: float | None = None, backoff: float = 0.2, max_backoff: float = 5.0, log=None,
                 connect_timeout: float | None = 60.0, max_outage: float | None = None):
        self.source, self.out = source, Path(out)
        self.connect_timeout, self.max_outage = connect_timeout, max_outage
        self.decoder = decoder_factory() if decoder_factory else None
        self.label, self.subject, self.rate = label, int(subject), rate
        self.backoff, self.max_backoff = backoff, max_backoff
        self.log = log or (lambda m: print(m, file=sys.stderr, flush=True))
        self.samples = 0
        self.outages = 0
        self._t0_us = None
        self._index = 0
        self._channels = None
        self._writer = None
        self._f = None
        self.stopped = False

    def _open(self, first: bool, deadline: float | None) -> bool:
        """Connect, retrying with backoff; False when ``deadline`` (monotonic) passes first. Gives up
        (SourceError) after ``connect_timeout`` on the first connection, ``max_outage`` on later ones."""
        delay, since, told = self.backoff, time.monotonic(), False
        limit = self.connect_timeout if first else self.max_outage
        while not self.stopped:
            try:
                self.source.open()
                return True
            except SourceDisconnected as e:
                if not self.source.realtime:
                    raise
                now = time.monotonic()
                if not told:  # once per outage, not once per retry
                    self.log(f"[record] waiting for {self.source.describe()}: {e}")
                    told = True
                if limit and now - since > limit:
                    what = "--connect-timeout 0 waits indefinitely" if first else "--max-outage sets how long to wait"
                    raise SourceError(f"{self.source.describe()}: no connection within {limit:g} s ({e}); {what}") \
                        from e
                if deadline is not None and now >= deadline:
                    return False
                # the last wait is cut to the deadline: a run ends at --duration, not a backoff step before it
                time.sleep(delay if deadline is None else min(delay, deadline - now))
                delay = min(2 * delay, self.max_backoff)
        return False

    def _write(self, block) -> None:
        if self._channels is None:
            self._channels = tuple(block.channels)
            self._f = open(self.out, "w", newline="", encoding="utf-8")
            self._writer = csv.writer(self._f, lineterminator="\n")
            units = ["m/s2" if c in ACC else "rad/s" for c in self._channels]
            self._writer.writerow(["timestamp", *(f"{c}[{u}]" for c, u in zip(self._channels, units)),
                                   "label", "subject"])
        if tuple(block.channels) != self._channels:
            raise ValueError(f"the stream's channels changed from {list(self._channels)} to {list(block.channels)} "
                             f"mid-recording; start a new recording")
        n = block.data.shape[1]
        ts = getattr(block, "timestamps_us", None)
        if ts is not None:
            t_us = [float(v) for v in ts]
        elif block.device_time_us is not None and block.period_us:
            t_us = [block.device_time_us + i * float(block.period_us) for i in range(n)]
        else:
            if not self.rate:
                raise ValueError("this stream carries no timestamps: pass --rate HZ (the device's sample rate)")
            self._index += int(block.lost_packets or 0)
            t_us = [(self._index + i) * 1e6 / self.rate for i in range(n)]
            self._index += n
        if self._t0_us is None:
            self._t0_us = t_us[0]
        rows = block.data.T.tolist()
        subj = str(self.subject)
        self._writer.writerows([f"{(t - self._t0_us) / 1e6:.6f}", *(f"{v:.9g}" for v in row), self.label, subj]
                               for t, row in zip(t_us, rows))
        self._f.flush()
        self.samples += n

    def run(self, duration: float | None = None, max_samples: int | None = None) -> dict:
        """Record until ``duration`` s (wall time, waiting for the device included), ``max_samples``, the end of
        a replay, or Ctrl-C."""
        start = time.monotonic()
        deadline = None if duration is None else start + duration
        try:
            if not self._open(True, deadline):
                self.stopped = True
            while not self.stopped:
                if duration is not None and time.monotonic() - start >= duration:
                    break
                if max_samples is not None and self.samples >= max_samples:
                    break
                try:
                    chunks = self.source.read(0.05)
                except SourceDisconnected as e:
                    self.log(f"[record] link lost: {e}; reconnecting")
                    self.outages += 1
                    self.source.close()
                    if self.decoder is not None and self.source.default_decoder == "imuedge":
                        self.decoder.feed(b"\x00")
                    if not self._open(False, deadline):
                        break
                    continue
                except EOFError:
                    break
                for chunk in chunks:
                    blocks = self.decoder.feed(chunk) if self.decoder is not None and isinstance(
                        chunk, (bytes, bytearray)) else [chunk]
                    for b in blocks:
                        if max_samples is not None:
                            b = _head(b, max_samples - self.samples)
                        if b is not None:
                            self._write(b)
        except KeyboardInterrupt:
            self.log("[record] interrupted")
        finally:
            self.source.close()
            if self._f is not None:
                self._f.close()
        st = self.decoder.stats if self.decoder is not None else {}
        return {"out": str(self.out), "samples": self.samples, "outages": self.outages,
                "packets": int(st.get("packets", 0)), "lost": int(st.get("lost", 0)),
                "corrupt": int(st.get("corrupt", 0))}


def _head(block, n: int):
    """The first n samples of a block (None if n <= 0)."""
    if n <= 0:
        return None
    if block.data.shape[1] <= n:
        return block
    from dataclasses import replace

    ts = getattr(block, "timestamps_us", None)
    return replace(block, data=block.data[:, :n], **({"timestamps_us": ts[:n]} if ts is not None else {}))
