"""`imuedge train --shots 10` on a folder of >= 40,000 windows: this code against the code before issue #23.

    python -m benchmarks.fewshot_train_bench [--encoder train/weights/img2imu_edge_sensor.pt] [--hop 16]
    python -m benchmarks.fewshot_train_bench --at-rate 20 [--seeds 0,1,2,3,4]

The folder is UCI HAPT written out as CSV recordings (61 files, the documented format), so the
command reads it as it reads a user's folder; with hop 16 its six basic activities give 40,383
windows of 128 samples (all twelve labelled classes, as the folder is read: a few hundred more).
Both versions run in this one process, one after the other, on the same
folder, encoder, seed and flags: the baseline is ``train/fewshot_cli.py`` as it was at commit
``BASELINE`` (read with ``git show``), which embedded every training window and the held-out ones
twice; the current one embeds the probe's windows, at most ``STATS_WINDOWS`` more for the feature
statistics, and the held-out ones once. Writes ``results/fewshot_train/bench.json`` (raw) and
``bench.md``. Wall time of each whole command (loading, windowing, embedding, probe, scoring).

``--at-rate HZ``: does resampling to the encoder's rate help? HAPT resampled (anti-aliased) to HZ and
written as CSV recordings (the six basic activities labelled), as a folder recorded at HZ would arrive; ``imuedge train --shots 10`` on it per
seed, as it is (resampled to the rate the encoder records) and with ``--keep-rate`` (its windows then
span 50/HZ times longer than in pretraining), and on the 50 Hz folder as the reference. Each seed holds
out its own subjects, the same ones in all three runs. Writes ``rate.json`` and ``rate.md``.
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


def folder_at_rate(folder: Path, rate: float) -> Path:
    """HAPT's 61 recordings at ``rate`` Hz (resampled, anti-aliased, when that is not HAPT's 50 Hz) as CSV files
    in ``folder`` (written once), labelled with the six basic activities only, as the main job uses them: the
    postural transitions last a few seconds, too few windows of them at 20 Hz for 10 shots without resampling."""
    from dataclasses import replace

    import numpy as np

    from imuedge.data import BASIC_ACTIVITIES, UNLABELLED, load_hapt, resample_dataset, write_recording_csv

    if folder.is_dir() and len(list(folder.glob("*.csv"))) == 61:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    ds = load_hapt()
    ds = ds if abs(ds.sample_rate_hz - rate) < 1e-9 else resample_dataset(ds, rate)
    for r in ds.recordings:
        labels = np.where(np.isin(r.labels, BASIC_ACTIVITIES), r.labels, UNLABELLED)
        write_recording_csv(folder / f"{r.recording_id}.csv", replace(r, labels=labels), ds.label_names)
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
    ap.add_argument("--at-rate", type=float, metavar="HZ",
                    help="instead: the 10-shot score on HAPT at HZ with and without resampling to the encoder's rate")
    ap.add_argument("--seeds", default="0,1,2,3,4", help="--at-rate: the seeds (default 0,1,2,3,4)")
    a = ap.parse_args(argv)
    if a.at_rate:
        return rate_study(a, argv)
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


def rate_study(a, argv) -> int:
    import numpy as np

    from imuedge.train import fewshot_cli

    at = folder_at_rate(a.work / f"hapt_csv_{a.at_rate:g}hz", a.at_rate)
    native = folder_at_rate(a.work / "hapt_csv_basic_50hz", 50.0)
    cases = {f"{a.at_rate:g} Hz, resampled to the encoder's rate": (at, []),
             f"{a.at_rate:g} Hz as it is (--keep-rate)": (at, ["--keep-rate"]),
             "50 Hz (reference)": (native, [])}
    load, runs = [os.getloadavg()], {}
    for case, (folder, extra) in cases.items():
        for seed in [int(s) for s in a.seeds.split(",")]:
            print(f"[bench] {case}, seed {seed} ...", file=sys.stderr, flush=True)
            argv_ = ["train", "--data", str(folder), "--encoder", a.encoder, "--shots", a.shots, "--seed", str(seed),
                     *extra, "--out", str(a.work / "rate.pt")]
            r = timed_train(fewshot_cli.run_train, argv_)
            r.update(seed=seed, train_argv=[relative_path(x) for x in argv_])
            runs.setdefault(case, []).append(r)
            load.append(os.getloadavg())
    summary = {case: {"macro_f1_mean": round(float(np.mean([r["macro_f1"] for r in rs])), 4),
                      "macro_f1_std": round(float(np.std([r["macro_f1"] for r in rs])), 4),
                      "accuracy_mean": round(float(np.mean([r["accuracy"] for r in rs])), 4),
                      "seeds": len(rs)} for case, rs in runs.items()}
    result = {"command": "python -m benchmarks.fewshot_train_bench "
                         + " ".join(argv if argv is not None else sys.argv[1:]),
              "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                          "python": platform.python_version(), "load_average_1_5_15_before_and_after_each": load},
              "encoder": relative_path(a.encoder), "summary": summary, "runs": runs}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "rate.json").write_text(json.dumps(result, indent=2) + "\n")
    seeds = len(next(iter(runs.values())))
    md = [f"# `imuedge train --shots {a.shots}` on HAPT at {a.at_rate:g} Hz: resampled to the encoder's rate or not",
          "", f"`{result['command'].strip()}`; encoder `{result['encoder']}` (pretrained on 50 Hz windows of 128 "
          f"samples). {seeds} seeds, each holding out its own subjects (the same in every row). Machine: "
          f"{os.cpu_count()}-CPU shared host (load averages in `rate.json`).", "",
          "| data | macro-F1 mean ± sd | accuracy mean | per seed |", "|---|---|---|---|"]
    for case, rs in runs.items():
        m = summary[case]
        md.append(f"| {case} | {m['macro_f1_mean']:.3f} ± {m['macro_f1_std']:.3f} | {m['accuracy_mean']:.3f} | "
                  + ", ".join(f"{r['macro_f1']:.3f}" for r in rs) + " |")
    (a.out / "rate.md").write_text("\n".join(md) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
