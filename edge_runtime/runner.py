"""The runner: Source -> Decoder -> Assembler -> Windower -> Predictor -> Sinks, profiled.

One **worker** thread reads the source, decodes, assembles, windows and predicts each window
as soon as it is cut, then hands the record to the sinks: no hand-off between threads on the
way from a sample to its prediction (on a loaded 2-core machine waking another thread costs
from 0.1 ms to several ms). Samples that arrive while the model runs wait in the link's buffer
and come with the next read; when inference is slower than the hop, of the windows that one
read completes only the newest ``queue_size`` are predicted and the older ones are dropped and
counted -- samples are never dropped and memory stays bounded. A replay
(``backpressure="block"``) predicts every window instead.

``inline=False`` restores the two-thread layout (a reader that never waits for inference and an
inference thread behind a bounded queue, the oldest queued window dropped when it is full) for
a source whose buffer could overflow while the model runs.

Latency is never under-stated: data that was already waiting when the worker read it (the read
returned at once) may have arrived at any time since the worker last looked at the link, and
is stamped with that earlier time.

The calling thread waits, writes the periodic profile, draws the live view, and on
``stop()`` / Ctrl-C (SIGINT) / end of a replay joins the threads, flushes the sinks and
writes the final profile.

A dropped link (``SourceDisconnected``) is reopened with exponential backoff
(``backoff`` .. ``max_backoff`` s); the stream resumes where the device is, the outage is
reported (count, durations), and the gap it leaves is handled like any other gap.
"""
from __future__ import annotations

import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from imuedge.manifest import window_spec
from imuedge.window import ACC, MAX_ACC, MAX_GYRO

from .assembler import Assembler, StreamMismatch  # noqa: F401 - re-exported for callers
from .profiler import Profiler, table
from .sinks import Sink
from .sources import Source, SourceDisconnected, SourceError
from .windower import Window, Windower


@dataclass
class RunConfig:
    queue_size: int = 4  # windows waiting for inference (inline: the newest kept from one read)
    backpressure: str | None = None  # "drop" (live default) | "block" (replay default)
    backoff: float = 0.2  # first reconnect delay, s
    max_backoff: float = 5.0
    max_outage: float | None = None  # give up after this long disconnected (None: never)
    connect_timeout: float | None = 60.0  # give up if the first connection fails this long (None or 0: never)
    profile_path: str | None = None
    profile_every: float = 10.0  # s between periodic profile writes
    live: bool = False  # redraw a table on stderr every second
    duration: float | None = None  # stop after this long (s)
    top_k: int | None = None  # scores: all (None) or the top k classes
    inline: bool = True  # predict on the reader thread (False: a separate inference thread behind a queue)
    cpu: int | None = None  # pin the predicting thread to this CPU (Linux); None: the OS schedules it


def check_cpu(cpu: int | None) -> int | None:
    """``cpu`` if this process may run on it; a ValueError saying why not otherwise (one line)."""
    if cpu is None:
        return None
    if not hasattr(os, "sched_setaffinity"):
        raise ValueError(f"--cpu {cpu}: pinning a thread to a CPU needs Linux (sched_setaffinity); "
                         f"this is {sys.platform}")
    allowed = sorted(os.sched_getaffinity(0))
    if cpu not in allowed:
        raise ValueError(f"--cpu {cpu}: this process may run on CPU {', '.join(map(str, allowed))} only")
    return cpu


@dataclass
class Outages:
    count: int = 0
    total_s: float = 0.0
    log: list = field(default_factory=list)  # {"start_s", "seconds", "reason"}
    current_since: float | None = None

    def report(self) -> dict:
        return {"count": self.count, "total_s": round(self.total_s, 3), "log": self.log[-50:],
                "disconnected_now": self.current_since is not None}


def check_manifest_against_stream(manifest: dict, channels=None, rate: float | None = None,
                                  assembler_kw: dict | None = None) -> Assembler:
    """An ``Assembler`` for this model; refuses (StreamMismatch) what is known to mismatch."""
    spec = window_spec(manifest)
    kw = {"declared_rate": rate,
          "model_name": f"the model ({manifest.get('format', '?')}-{manifest.get('precision', '?')})",
          **(assembler_kw or {})}
    rate = kw["declared_rate"]
    a = Assembler(spec.channels, spec.sample_rate_hz, **kw)
    a.check_declared(rate, channels)
    return a


class StreamRunner:
    def __init__(self, source: Source, decoder_factory, predictor, sinks: list[Sink], *,
                 assembler: Assembler | None = None, config: RunConfig | None = None,
                 profiler: Profiler | None = None, log=None, hop: int | None = None):
        self.source = source
        self.decoder_factory = decoder_factory  # None: the source yields SampleBlocks
        self.decoder = decoder_factory() if decoder_factory else None
        self.predictor = predictor
        self.manifest = predictor.manifest
        spec = window_spec(self.manifest)
        self.assembler = assembler or check_manifest_against_stream(self.manifest)
        self.hop = int(spec.hop if hop is None else hop)  # scheduling only: any hop gives the model the same windows
        if self.hop <= 0:
            raise ValueError(f"--hop must be a positive number of samples, got {self.hop}")
        self.windower = Windower(len(spec.channels), spec.window, self.hop)
        # the loader's physical plausibility bounds, per model channel: a window beyond them is a corrupt or
        # mis-scaled stream, never a motion to classify
        self.bounds = np.array([MAX_ACC if c in ACC else MAX_GYRO for c in spec.channels], np.float32)[:, None]
        self.sinks = sinks
        self.cfg = config or RunConfig()
        check_cpu(self.cfg.cpu)
        if self.cfg.backpressure is None:
            self.cfg.backpressure = "drop" if source.realtime else "block"
        self.prof = profiler or Profiler()
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        out = self.manifest.get("output", {})
        self.class_names = out.get("class_names")
        self.task = self.manifest.get("task", "classify")
        self.q: queue.Queue[Window | None] = queue.Queue(maxsize=max(1, self.cfg.queue_size))
        self.stop_event = threading.Event()
        self.reader_done = threading.Event()
        self.error: BaseException | None = None
        self.outages = Outages()
        self._qlock = threading.Lock()
        self._ready: list[Window] = []  # inline: windows cut from the current read, not yet predicted
        p = self.prof
        for name in ("samples", "windows_produced", "windows_predicted", "windows_dropped", "windows_skipped_gap",
                     "windows_skipped_implausible", "windows_skipped_nonfinite_output"):
            p.counters.setdefault(name, 0)
        p.info.update({"source": source.describe(), "model": {
            "format": self.manifest.get("format"), "precision": self.manifest.get("precision"),
            "input": {"channels": list(spec.channels), "sample_rate_hz": spec.sample_rate_hz, "window": spec.window,
                      "hop": spec.hop}}, "hop": self.hop,
            "backpressure": self.cfg.backpressure, "queue_size": self.cfg.queue_size, "inline": self.cfg.inline,
            "pinned_cpu": self.cfg.cpu})
        p.sections["packets"] = self._packet_report
        p.sections["stream"] = self._stream_report
        p.sections["outages"] = self.outages.report

    # ------------------------------------------------------------ reports
    def _packet_report(self) -> dict:
        st = self.decoder.stats if self.decoder is not None else {}
        return {"received": int(st.get("packets", 0)), "lost": int(st.get("lost", 0)),
                "corrupt": int(st.get("corrupt", 0)), "out_of_order": int(st.get("out_of_order", 0)),
                "device_overflow_samples": int(st.get("overflow", 0)),
                "errors": dict(st.get("errors", {})), "last_error": st.get("last_error"),
                "skipped": int(st.get("skipped", 0))}

    def _stream_report(self) -> dict:
        a = self.assembler.stats
        return {"stream_rate_hz": a.stream_rate_hz, "rate_source": a.rate_source, "mode": a.mode,
                "model_rate_hz": self.assembler.rate, "samples_in": a.samples_in, "samples_out": a.samples_out,
                "gaps": a.gaps, "gap_samples_interpolated": a.gap_samples_interpolated,
                "gap_samples_missing": a.gap_samples_missing, "grid_resets": a.resets,
                "clock_drift_ppm": a.clock_drift_ppm, "gap_log": a.gap_log[-20:],
                "queue_depth": self.q.qsize()}

    # ------------------------------------------------------------ reader
    def _connect(self, first: bool) -> bool:
        """Open the source, retrying with backoff; False if stopped or the outage limit passed."""
        delay = self.cfg.backoff
        while not self.stop_event.is_set():
            try:
                self.source.open()
                return True
            except SourceDisconnected as e:
                if first and not self.source.realtime:
                    raise
                since = self.outages.current_since
                if since is None:
                    since = self.outages.current_since = time.perf_counter()
                    self.outages.log.append({"start_s": round(since - self.prof.t0, 3), "seconds": None,
                                             "reason": str(e)})
                    self.log(f"[stream] waiting for {self.source.describe()}: {e}")
                if self.cfg.max_outage is not None and time.perf_counter() - since > self.cfg.max_outage:
                    raise SourceDisconnected(f"{e}; gave up after {self.cfg.max_outage:g} s") from e
                if first and self.cfg.connect_timeout and time.perf_counter() - since > self.cfg.connect_timeout:
                    raise SourceError(f"{self.source.describe()}: no connection within {self.cfg.connect_timeout:g} s "
                                      f"({e}); --connect-timeout 0 waits for the device indefinitely") from e
                self.stop_event.wait(delay)
                delay = min(delay * 2, self.cfg.max_backoff)
        return False

    def _disconnected(self, e: Exception) -> None:
        now = time.perf_counter()
        self.outages.current_since = now
        self.outages.log.append({"start_s": round(now - self.prof.t0, 3), "seconds": None, "reason": str(e)})
        del self.outages.log[:-100]
        self.log(f"[stream] link lost: {e}; reconnecting")
        if self.decoder is not None:
            # end any frame cut by the drop, keeping sequence tracking across the outage
            self.decoder.feed(b"\x00") if self.source.default_decoder == "imuedge" else None

    def _reconnected(self) -> None:
        since = self.outages.current_since
        if since is None:
            return
        secs = time.perf_counter() - since
        self.outages.count += 1
        self.outages.total_s += secs
        self.outages.log[-1]["seconds"] = round(secs, 3)
        self.outages.current_since = None
        self.log(f"[stream] reconnected after {secs:.2f} s")

    def _pin(self) -> None:
        """The calling thread on ``cpu`` only, so that it wakes where its caches are (measured by
        ``stream_bench --phases pin``)."""
        if self.cfg.cpu is not None:
            os.sched_setaffinity(threading.get_native_id(), {self.cfg.cpu})

    def _reader(self) -> None:
        prof, pc = self.prof, time.perf_counter
        live = self.source.realtime
        try:
            if self.cfg.inline:
                self._pin()
            if self._connect(first=True):
                self._reconnected()  # closes the outage if the device was not there at start
            seen = pc()  # when the worker last looked at the link
            while not self.stop_event.is_set():
                try:
                    asked = pc()
                    chunks = self.source.read(0.05)
                except SourceDisconnected as e:
                    self._disconnected(e)
                    self.source.close()
                    if not self._connect(first=False):
                        break
                    self._reconnected()
                    continue
                except EOFError:
                    break
                now = pc()
                # returned at once: the data was waiting, and may have come any time since the last look
                arrival = seen if live and now - asked < 2e-4 else now
                seen = now
                for chunk in chunks:
                    if self.decoder is not None and isinstance(chunk, (bytes, bytearray)):
                        t0 = pc()
                        blocks = self.decoder.feed(chunk)
                        prof.add("decode", pc() - t0)
                    else:
                        blocks = [chunk]
                    for b in blocks:
                        self._assemble(b, arrival)
                self._predict_ready()
            self._finish_pending()
            self._predict_ready()
        except BaseException as e:  # noqa: BLE001 - reported by run()
            self.error = e
        finally:
            self.source.close()
            self.reader_done.set()
            self._put(None, final=True)

    def _assemble(self, block, arrival: float) -> None:
        pc = time.perf_counter
        t0 = pc()
        data, arr, reset = self.assembler.feed(block, arrival)
        t1 = pc()
        self.prof.add("assemble", t1 - t0)
        self._window(data, arr, reset)

    def _finish_pending(self) -> None:
        data, arr, reset = self.assembler.flush_pending()
        if data.size:
            self._window(data, arr, reset)

    def _window(self, data, arr, reset) -> None:
        pc = time.perf_counter
        if reset:
            self.windower.reset()
        t1 = pc()
        skipped = self.windower.skipped_gap
        windows = self.windower.push(data, arr, t1)
        t2 = pc()
        self.prof.add("window", t2 - t1)
        self.prof.count("samples", data.shape[1])
        if self.windower.skipped_gap > skipped:
            self.prof.count("windows_skipped_gap", self.windower.skipped_gap - skipped)
        for w in windows:
            w.made = t2
            self.prof.count("windows_produced")
            if not np.all(np.abs(w.data) <= self.bounds):  # also catches inf
                self.prof.count("windows_skipped_implausible")
                continue
            if self.cfg.inline:
                self._ready.append(w)
            else:
                self._put(w)

    def _predict_ready(self) -> None:
        """Inline: predict the windows this read completed (a live stream: the newest ``queue_size``)."""
        ready, self._ready = self._ready, []
        if self.cfg.backpressure == "drop" and len(ready) > self.cfg.queue_size:
            self.prof.count("windows_dropped", len(ready) - self.cfg.queue_size)
            ready = ready[-self.cfg.queue_size:]
        for w in ready:
            self._predict(w)

    def _put(self, w: Window | None, final: bool = False) -> None:
        if self.cfg.inline:
            return
        if self.cfg.backpressure == "block" or final:
            while True:
                try:
                    self.q.put(w, timeout=0.1)
                    return
                except queue.Full:
                    if self.stop_event.is_set() and not final:
                        return
                    if final:  # make room for the end marker
                        self._drop_oldest()
        with self._qlock:
            while True:
                try:
                    self.q.put_nowait(w)
                    return
                except queue.Full:
                    self._drop_oldest()

    def _drop_oldest(self) -> None:
        try:
            old = self.q.get_nowait()
        except queue.Empty:
            return
        if old is not None:
            self.prof.count("windows_dropped")

    # ------------------------------------------------------------ inference
    def _record(self, w: Window, out: np.ndarray, now: float) -> dict:
        rec = {"window": w.index, "start": w.start, "t_s": round(now - self.prof.t0, 6),
               "latency_ms": round((now - w.arrival) * 1e3, 4)}
        out = np.asarray(out).reshape(-1)
        if self.task == "classify":
            k = int(np.argmax(out))
            rec["index"] = k
            rec["class"] = self.class_names[k] if self.class_names and k < len(self.class_names) else str(k)
            scores = out.tolist()
            if self.cfg.top_k:
                order = np.argsort(-out)[:self.cfg.top_k]
                rec["top"] = [[self.class_names[i] if self.class_names else int(i), scores[i]] for i in order]
            else:
                rec["scores"] = scores
        else:
            rec["embedding"] = out.tolist()
        return rec

    def _infer(self) -> None:
        try:
            self._pin()
            while True:
                w = self.q.get()
                if w is None:
                    break
                self._predict(w)
        except BaseException as e:  # noqa: BLE001
            self.error = self.error or e
            self.stop_event.set()

    def _predict(self, w: Window) -> None:
        prof, pc = self.prof, time.perf_counter
        t0 = pc()
        prof.add("queue", t0 - w.made)
        out = self.predictor.predict(w.data)
        t1 = pc()
        prof.add("predict", t1 - t0)
        if not np.all(np.isfinite(out)):  # never a NaN score (nor invalid JSON): skipped and counted
            prof.count("windows_skipped_nonfinite_output")
            return
        rec = self._record(w, out, t1)
        prof.add("e2e", t1 - w.arrival)
        for s in self.sinks:
            s.emit(rec)
        prof.add("sink", pc() - t1)
        prof.count("windows_predicted")

    # ------------------------------------------------------------ run
    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> dict:
        """Run until the source ends, ``duration`` passes, ``stop()`` or Ctrl-C; return the final profile."""
        reader = threading.Thread(target=self._reader, name="imuedge-reader", daemon=True)
        infer = reader if self.cfg.inline else threading.Thread(target=self._infer, name="imuedge-infer", daemon=True)
        reader.start()
        if infer is not reader:
            infer.start()
        start = time.perf_counter()
        next_profile = start + self.cfg.profile_every
        next_live = start + 1.0
        interrupted = False
        try:
            while infer.is_alive():
                infer.join(0.1)
                now = time.perf_counter()
                if self.cfg.duration is not None and now - start >= self.cfg.duration:
                    self.stop()
                if self.cfg.profile_path and now >= next_profile:
                    self.prof.write(self.cfg.profile_path)
                    next_profile = now + self.cfg.profile_every
                if self.cfg.live and now >= next_live:
                    sys.stderr.write("\x1b[2J\x1b[H" + table(self.prof.report()) + "\n")
                    sys.stderr.flush()
                    next_live = now + 1.0
        except KeyboardInterrupt:
            interrupted = True
            self.log("[stream] interrupted: flushing")
            self.stop()
        self.stop()
        reader.join(5)
        infer.join(30)
        for s in self.sinks:
            try:
                s.close()
            except Exception:  # noqa: BLE001 - finish the others
                pass
        rep = self.prof.report()
        rep["interrupted"] = interrupted
        rep["error"] = None if self.error is None else f"{type(self.error).__name__}: {self.error}"
        if self.cfg.profile_path:
            self.prof.write(self.cfg.profile_path, rep)
        return rep
