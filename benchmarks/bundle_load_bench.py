"""What loading a .pte bundle safely costs: the first load of a model file (a trial load and run in a
child process, imuedge/bundle.py ``probe_pte``) against later loads (the file's sha256 remembered).

    python -m benchmarks.bundle_load_bench [BUNDLE ...]     # default: a small classifier exported here

Each measurement is a fresh Python process that imports imuedge and the runtime, then times
``imuedge.load_bundle`` alone: "first load" with an empty cache folder (XDG_CACHE_HOME), "cached" with
the folder the first load filled. Median of ``--repeats``. Writes results/bundle_load/bundle_load.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from imuedge.machine import describe

HERE = Path(__file__).resolve().parent
_TIMED = """
import sys, time, imuedge
from imuedge import bundle
from executorch.runtime import Runtime  # the runtime's own import is not what is measured
t = time.perf_counter()
imuedge.load_bundle(sys.argv[1])
print(time.perf_counter() - t)
"""


def load_seconds(bundle: Path, cache: Path) -> float:
    r = subprocess.run([sys.executable, "-c", _TIMED, str(bundle)], capture_output=True, text=True,
                       env={"XDG_CACHE_HOME": str(cache), "PATH": "/usr/bin:/bin", "HOME": str(cache)}, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"{bundle}: {r.stderr.strip().splitlines()[-1:]}")
    return float(r.stdout.strip().splitlines()[-1])


def small_bundle(work: Path) -> Path:
    sys.path.insert(0, str(HERE.parent / "tests" / "edge_runtime"))
    import numpy as np
    from conftest import small_target

    from imuedge.data import load_hapt
    from imuedge.export import export_bundles

    x = load_hapt().recordings[0].data
    ev = np.stack([x[:, s:s + 128] for s in range(0, 64 * 32, 64)]).astype(np.float32)
    export_bundles(small_target(), work, ("pte",), ("fp32",), eval_x=ev, log=lambda m: None)
    return work / "pte-fp32"


def main(argv=None) -> int:
    from imuedge.machine import RUNTIMES, machine

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundles", nargs="*", type=Path, help=".pte bundles (default: a small one exported here)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "bundle_load")
    a = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        bundles = a.bundles or [small_bundle(Path(work) / "bundles")]
        for b in bundles:
            first, cached = [], []
            for i in range(a.repeats):
                cache = Path(work) / f"cache{len(rows)}_{i}"
                first.append(load_seconds(b, cache))
                cached.append(load_seconds(b, cache))
            rows.append({"bundle": str(b.name), "first_load_s": first, "cached_load_s": cached,
                         "first_median_s": statistics.median(first), "cached_median_s": statistics.median(cached)})
    result = {"machine": machine(RUNTIMES), "repeats": a.repeats, "rows": rows}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "bundle_load.json").write_text(json.dumps(result, indent=2) + "\n")
    m = result["machine"]
    md = ["# Loading a .pte bundle safely", "",
          f"Machine: {describe(m)}. Median of {a.repeats} fresh processes; "
          "the runtime is imported before the clock starts.", "",
          "| bundle | first load (trial in a child process), s | later loads (sha256 remembered), s |", "|---|---:|---:|"]
    md += [f"| {r['bundle']} | {r['first_median_s']:.2f} | {r['cached_median_s']:.3f} |" for r in rows]
    (a.out / "bundle_load.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
