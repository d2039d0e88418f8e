"""Profiler: per-stage latency, end-to-end latency, CPU, memory and stream counters.

Latencies are kept per stage in a fixed ring (the last ``keep`` values; memory stays
bounded on a week-long run) plus an all-time count and max. ``report()`` is a
JSON-able dict; ``table()`` a printable summary. CPU is this process's user+system
time (``time.process_time``); memory is ``imuedge.machine.memory()`` (VmRSS and VmHWM of
``/proc/self/status``).

End-to-end latency of a window = time its prediction was handed to the sinks minus
the arrival time of its newest sample (the sample this prediction is the first to use).
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np

from imuedge.machine import memory

STAGES = ("decode", "assemble", "window", "queue", "predict", "sink", "e2e")


class LatencyRing:
    def __init__(self, keep: int = 65536):
        self.values = np.zeros(keep)
        self.count = 0
        self.max = 0.0
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self.values[self.count % len(self.values)] = seconds
            self.count += 1
            if seconds > self.max:
                self.max = seconds

    def snapshot(self) -> np.ndarray:
        with self._lock:
            return self.values[:min(self.count, len(self.values))].copy()

    def summary(self) -> dict:
        v = self.snapshot()
        if not len(v):
            return {"count": 0}
        p50, p95, p99 = (float(q) for q in np.percentile(v, [50, 95, 99]) * 1e3)
        return {"count": self.count, "p50_ms": round(p50, 4), "p95_ms": round(p95, 4), "p99_ms": round(p99, 4),
                "max_ms": round(self.max * 1e3, 4), "mean_ms": round(float(v.mean()) * 1e3, 4)}


class Profiler:
    def __init__(self, keep: int = 65536):
        self.stages = {s: LatencyRing(keep) for s in STAGES}
        self.counters: dict[str, int] = {}
        self.info: dict = {}
        self.sections: dict = {}  # name -> callable returning a dict (decoder stats, assembler stats ...)
        self.t0 = time.perf_counter()
        self.cpu0 = time.process_time()
        self._last = (self.t0, self.cpu0)
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        self.stages[stage].add(seconds)

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + n

    def report(self) -> dict:
        now, cpu = time.perf_counter(), time.process_time()
        wall = now - self.t0
        last_wall, last_cpu = self._last
        self._last = (now, cpu)
        rep = {
            "wall_s": round(wall, 3),
            "cpu": {"process_s": round(cpu - self.cpu0, 3),
                    "utilisation": round((cpu - self.cpu0) / wall, 4) if wall > 0 else None,
                    "utilisation_recent": round((cpu - last_cpu) / (now - last_wall), 4) if now > last_wall else None,
                    "cores": os.cpu_count()},
            "memory": memory(),
            "latency": {s: r.summary() for s, r in self.stages.items()},
            "counters": dict(sorted(self.counters.items())),
            **self.info,
        }
        for name, fn in self.sections.items():
            try:
                rep[name] = fn()
            except Exception as e:  # noqa: BLE001 - a report must never crash the run
                rep[name] = {"error": repr(e)}
        return rep

    def write(self, path: str | Path, report: dict | None = None) -> dict:
        rep = report or self.report()
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(rep, indent=2, default=_jsonable) + "\n")
        os.replace(tmp, path)
        return rep


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def table(rep: dict) -> str:
    """A terminal table of a report."""
    lines = [f"{'stage':<10}{'count':>9}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}"]
    for s, v in rep["latency"].items():
        if v.get("count"):
            lines.append(f"{s:<10}{v['count']:>9}{v['p50_ms']:>10.3f}{v['p95_ms']:>10.3f}"
                         f"{v['p99_ms']:>10.3f}{v['max_ms']:>10.3f}")
    c = rep["counters"]
    pk = rep.get("packets", {})
    lines.append(f"packets: received {pk.get('received', 0)}  lost {pk.get('lost', 0)}  corrupt "
                 f"{pk.get('corrupt', 0)}   samples {c.get('samples', 0)}")
    lines.append(f"windows: produced {c.get('windows_produced', 0)}  predicted {c.get('windows_predicted', 0)}  "
                 f"dropped (slow inference) {c.get('windows_dropped', 0)}  skipped (gap) "
                 f"{c.get('windows_skipped_gap', 0)}"
                 + "".join(f"  skipped ({what}) {c[key]}" for key, what in (
                     ("windows_skipped_implausible", "implausible values"),
                     ("windows_skipped_nonfinite_output", "non-finite model output")) if c.get(key)))
    out = rep.get("outages", {})
    if out.get("count"):
        lines.append(f"outages: {out['count']}  total {out['total_s']:.2f} s")
    m, cpu = rep["memory"], rep["cpu"]
    lines.append(f"cpu: {cpu['process_s']:.2f} s ({(cpu['utilisation'] or 0) * 100:.1f}% of one core)  "
                 f"rss {m.get('rss_mb', '?')} MB  peak {m.get('peak_rss_mb', '?')} MB  wall {rep['wall_s']:.1f} s")
    return "\n".join(lines)
