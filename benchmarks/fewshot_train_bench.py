"""`imuedge train --shots 10` on a folder of >= 40,000 windows: this code against the code before issue #23.

    python -m benchmarks.fewshot_train_bench [--encoder train/weights/img2imu_edge_sensor.pt] [--hop 16]

The folder is UCI HAPT written out as CSV recordings (61 files, the documented format), so the
command reads it as it reads a user's folder; with hop 16 its six basic activities give 40,383
windows of 128 samples (all twelve labelled classes, as the folder is read: a few hundred more).
Both versions run in this one process, one after the other, on the same
folder, encoder, seed and flags: the baseline is ``train/fewshot_cli.py`` as it was at commit
``BASELINE`` (read with ``git show``), which embedded every training window and the held-out ones
twice; the current one embeds the probe's windows, at most ``STATS_WINDOWS`` more for the feature
statistics, and the held-out ones once. Writes ``results/fewshot_train/bench.json`` (raw) and
``bench.md``. Wall time of each whole command (loading, windowing, embedding, probe, scoring).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

from imuedge.command_line import relative_path
from imuedge.machine import machine

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "31f7e84"  # main before the change to `imuedge train` (issue #23)
OUT = ROOT / "benchmarks" / "results" / "fewshot_train"


def baseline_module(commit: str = BASELINE) -> types.ModuleType:
    """``train/fewshot_cli.py`` as it was at ``commit``, as a module."""
    src = subprocess.run(["git", "show", f"{commit}:train/fewshot_cli.py"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    mod = types.ModuleType(f"fewshot_cli_{commit}")
    exec(compile(src, f"{commit}:train/fewshot_cli.py", "exec"), mod.__dict__)
    return mod


def hapt_folder(folder: Path) -> Path:
    """HAPT's 61 recordings as CSV files in ``folder`` (written once)."""
    from imuedge.data import load_hapt, write_recording_csv

    if folder.is_dir() and len(list(folder.glob("*.csv"))) == 61:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    ds = load_hapt()
    for r in ds.recordings:
        write_recording_csv(folder / f"{r.recording_id}.csv", r, ds.label_names)
    return folder


def timed_train(run_train, argv: list[str]) -> dict:
    from imuedge.cli import build_parser
    from imuedge.data.cli import warnings_as_lines
    from imuedge.train.models import load_model

    a = build_parser().parse_args(argv)
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings_as_lines():
        rc = run_train(a)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ev = load_model(a.out)[1]["evaluation"]
    return {"rc": rc, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "macro_f1": ev["macro_f1"],
            "accuracy": ev["accuracy"], "scored_windows": ev["windows"], "holdout": ev["holdout"],
            "confusion": ev["confusion"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", default=str(ROOT / "train" / "weights" / "img2imu_edge_sensor.pt"),
                    help="encoder checkpoint (default: the shipped one)")
    ap.add_argument("--hop", type=int, default=16, help="hop in samples (16: 40,383 HAPT windows)")
    ap.add_argument("--shots", default="10", help="--shots of both runs (default 10)")
    ap.add_argument("--seed", type=int, default=0, help="--seed of both runs (default 0)")
    ap.add_argument("--work", type=Path, default=Path("runs/fewshot_train_bench"), help="scratch folder")
    ap.add_argument("--out", type=Path, default=OUT, help="where bench.json and bench.md go")
    a = ap.parse_args(argv)
    from imuedge.train import fewshot_cli

    from imuedge.data import load_hapt, make_windows

    folder = hapt_folder(a.work / "hapt_csv")
    windows = len(make_windows(load_hapt(), 128, a.hop))  # every labelled class, as the folder is read
    common = ["train", "--data", str(folder), "--encoder", a.encoder, "--shots", a.shots, "--hop", str(a.hop),
              "--seed", str(a.seed)]
    load = [os.getloadavg()]
    runs = {}
    for name, fn in (("baseline", baseline_module().run_train), ("current", fewshot_cli.run_train)):
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        runs[name] = timed_train(fn, common + ["--out", str(a.work / f"{name}.pt")])
        load.append(os.getloadavg())
        print(f"[bench] {name}: {runs[name]['wall_s']} s, macro-F1 {runs[name]['macro_f1']:.4f}", file=sys.stderr)
    b, c = runs["baseline"], runs["current"]
    result = {
        "command": "python -m benchmarks.fewshot_train_bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {**machine(), "load_average_1_5_15_before_and_after_each": load,
                    "note": "shared 2-core CPU, other jobs running (see the load averages)"},
        "baseline_commit": BASELINE, "train_argv": [relative_path(arg) for arg in common], "labelled_windows": windows, "stats_windows": fewshot_cli.STATS_WINDOWS,
        "runs": runs, "speedup_wall": round(b["wall_s"] / c["wall_s"], 2),
        "speedup_cpu": round(b["cpu_s"] / c["cpu_s"], 2),
        "same_scored_windows": b["scored_windows"] == c["scored_windows"],
        "identical_scores": b["confusion"] == c["confusion"],
        "macro_f1_difference": round(c["macro_f1"] - b["macro_f1"], 4),
    }
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [f"# `imuedge train --shots {a.shots}` on HAPT as 61 CSV recordings: {windows} windows (hop {a.hop})", "",
          f"Machine: {result['machine']['note']}; {os.cpu_count()} CPUs. One run each, in one process "
          f"(`{result['command'].strip()}`).", "",
          "| code | wall s | CPU s | macro-F1 | accuracy | windows scored |", "|---|---|---|---|---|---|"]
    for name, r in runs.items():
        md.append(f"| {name} | {r['wall_s']} | {r['cpu_s']} | {r['macro_f1']:.4f} | {r['accuracy']:.4f} | "
                  f"{r['scored_windows']} |")
    md += ["", f"Speed-up (wall): {result['speedup_wall']}x; (CPU): {result['speedup_cpu']}x. Identical scores: "
           f"{result['identical_scores']} (macro-F1 difference {result['macro_f1_difference']:+.4f}).", ""]
    (a.out / "bench.md").write_text("\n".join(md))
    print(json.dumps({k: result[k] for k in ("speedup_wall", "speedup_cpu", "identical_scores",
                                             "macro_f1_difference")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
