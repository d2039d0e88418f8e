"""What a measurement ran on, and how much memory this process holds: one reader for the benchmarks, the
runtime's profiler, the fuzzer and the training report.

Memory comes from ``/proc/self/status``: VmRSS (resident now) and VmHWM (the peak). Not ``ru_maxrss`` where
VmHWM exists: Linux carries ``ru_maxrss`` over from a forking parent, so a subprocess of a large benchmark
process would report the parent's peak; ``ru_maxrss`` is the fallback elsewhere (KiB on Linux, bytes on macOS).
Standard library only: the device install imports it without numpy or torch.
"""
from __future__ import annotations

import os
import platform
import resource
from importlib import metadata


# the packages whose versions a runtime measurement records
RUNTIMES = ("torch", "executorch", "onnxruntime", "ai-edge-litert", "numpy", "pyserial")


def memory() -> dict:
    """This process's resident and peak resident memory, MB: ``{"rss_mb", "peak_rss_mb"}`` (``rss_mb`` only
    where ``/proc`` has it)."""
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out["rss_mb" if line.startswith("VmRSS") else "peak_rss_mb"] = round(int(line.split()[1]) / 1024, 2)
    except OSError:  # not Linux
        pass
    if "peak_rss_mb" not in out:
        ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["peak_rss_mb"] = round(ru / (1024 * 1024 if platform.system() == "Darwin" else 1024), 2)
    return out


def peak_rss_mb() -> float:
    """This process's peak resident set so far, MB."""
    return memory()["peak_rss_mb"]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what ``platform`` knows elsewhere."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# the SIMD features that decide how fast fp32 and int8 kernels run (int8 gains from an int8 dot product:
# AVX-512 VNNI / AVX-VNNI on x86, SDOT (asimddp) / i8mm on ARM)
SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "asimddp", "i8mm")


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> list[str]:
    """Which of ``SIMD_FLAGS`` this CPU has, then, on x86, "no X" for each AVX-512 / VNNI one it lacks; [] where
    ``cpuinfo`` lists no flags."""
    try:
        with open(cpuinfo) as f:
            have = next(line for line in f if line.startswith(("flags", "Features"))).split(":", 1)[1].split()
    except (OSError, StopIteration):
        return []
    return [f for f in SIMD_FLAGS if f in have] + [f"no {f}" for f in ("avx512f", "avx512_vnni", "avx_vnni")
                                                   if f not in have and "avx2" in have]


def machine(packages: tuple[str, ...] = ()) -> dict:
    """The machine a result was measured on, as JSON: CPU model, its SIMD flags, logical and usable cores,
    platform, Python, the load average when this was called, and the installed version (or None) of each of
    ``packages``."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        usable = os.cpu_count()
    out = {"cpu": cpu_model(), "cpu_flags": cpu_flags(), "cores": os.cpu_count(), "usable_cores": usable, "platform": platform.platform(),
           "python": platform.python_version(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    if packages:
        out["packages"] = {}
        for name in packages:
            try:
                out["packages"][name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                out["packages"][name] = None
    return out


def describe(m: dict | None = None) -> str:
    """A machine (``machine()`` by default) in one line, for a report: CPU (SIMD flags), cores, platform,
    Python, and the load average when it was measured (a shared machine's load inflates timings)."""
    m = m or machine()
    flags = f" ({', '.join(m['cpu_flags'])})" if m.get("cpu_flags") else ""
    load = m.get("load_average_at_start")
    usable = f" ({m['usable_cores']} usable)" if "usable_cores" in m else ""
    return (f"{m['cpu']}{flags}, {m.get('cores', m.get('logical_cores'))} logical cores{usable}, {m['platform']}, "
            f"Python {m['python']}"
            + (f"; load average at start {', '.join(f'{x:.2f}' for x in load)}" if load else ""))
