"""`imuedge train --shots 10` on a folder of >= 40,000 windows: this code against the code before issue #23.

    python -m benchmarks.fewshot_train_bench [--encoder train/weights/img2imu_edge_sensor.pt] [--hop 16]
    python -m benchmarks.fewshot_train_bench --at-rate 20 [--seeds 0,1,2,3,4]

The folder is UCI HAPT written out as CSV recordings (61 files, the documented format), so the
command reads it as it reads a user's folder; with hop 16 its six basic activities give 40,383
windows of 128 samples (all twelve labelled classes, as the folder is read: a few hundred more).
Four runs in this one process, one after the other, on the same folder, encoder, seed and flags:

* the baseline: ``train/fewshot_cli.py`` as it was at commit ``BASELINE`` (read with ``git show``),
  with that commit's ``embed`` and ``predict``: it embedded every training window, for the probe's
  feature statistics, and the held-out ones twice;
* the current code: the probe's windows, at most ``STATS_WINDOWS`` more for the feature statistics,
  and the held-out ones once, embedded channels-last (``fewshot.channels_last``);
* the current code with the statistics of every training window, as the baseline took them;
* the same with the baseline's embedding arithmetic: what identical scores take.

Writes ``results/fewshot_train/bench.json`` (raw) and ``bench.md``: wall and CPU time of each whole
command (loading, windowing, embedding, probe, scoring), scores, and whether each row's confusion
matrix is the baseline's; and the embedding's ms per window, contiguous (the baseline's) against
channels-last, on the same windows.

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
import sys
import time
import types
from contextlib import ExitStack, contextmanager
from pathlib import Path

from benchmarks import baseline
from imuedge.command_line import relative_path
from imuedge.machine import machine

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "31f7e84"  # main before the change to `imuedge train` (issue #23)
OUT = ROOT / "benchmarks" / "results" / "fewshot_train"


def module_at(path: str, commit: str = BASELINE) -> types.ModuleType:
    """``path`` (a file of this repository) as it was at ``commit``, as a module."""
    return baseline.module_at(path, commit)


@contextmanager
def baseline_embedding(commit: str = BASELINE):
    """``embed`` and ``predict`` of ``train/fewshot.py`` at ``commit`` stand in for today's while the block runs:
    their arithmetic (contiguous weights, batches of 64), so a run reproduces that code's features bit for bit.
    A ``progress`` callback is taken and not called."""
    from imuedge.train import fewshot

    old = module_at("train/fewshot.py", commit)
    saved = {name: getattr(fewshot, name) for name in ("embed", "predict")}
    fewshot.embed = lambda model, x, batch_size=64, progress=None: old.embed(model, x, batch_size)
    fewshot.predict = lambda model, x, batch_size=64, progress=None: old.predict(model, x, batch_size)
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(fewshot, name, fn)


@contextmanager
def statistics_of_every_window():
    """The current ``run_train`` with the probe's feature statistics taken over every training window, as the
    baseline took them (``STATS_WINDOWS`` raised past the folder's size): what identical statistics cost."""
    from imuedge.train import fewshot_cli

    saved = fewshot_cli.STATS_WINDOWS
    fewshot_cli.STATS_WINDOWS = 10 ** 9
    try:
        yield
    finally:
        fewshot_cli.STATS_WINDOWS = saved


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
    cases = {"baseline": (module_at("train/fewshot_cli.py").run_train, [baseline_embedding]),
             "current": (fewshot_cli.run_train, []),
             "current, statistics of every training window": (fewshot_cli.run_train, [statistics_of_every_window]),
             "current, statistics of every training window, the baseline's embedding arithmetic": (
                 fewshot_cli.run_train, [statistics_of_every_window, baseline_embedding])}
    for name, (run_train, patches) in cases.items():
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        with ExitStack() as stack:
            for patch in patches:
                stack.enter_context(patch())
            runs[name] = timed_train(run_train, common + ["--out", str(a.work / "bench.pt")])
        load.append(os.getloadavg())
        print(f"[bench] {name}: {runs[name]['wall_s']} s, macro-F1 {runs[name]['macro_f1']:.4f}", file=sys.stderr)
    b = runs["baseline"]
    for r in runs.values():
        r.update(speedup_wall=round(b["wall_s"] / r["wall_s"], 2), speedup_cpu=round(b["cpu_s"] / r["cpu_s"], 2),
                 identical_scores=r["confusion"] == b["confusion"], same_scored_windows=r["scored_windows"] == b[
                     "scored_windows"], macro_f1_difference=round(r["macro_f1"] - b["macro_f1"], 4))
    result = {
        "command": "python -m benchmarks.fewshot_train_bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {**machine(), "load_average_1_5_15_before_and_after_each": load},
        "baseline_commit": BASELINE, "train_argv": [relative_path(arg) for arg in common], "labelled_windows": windows,
        "stats_windows": fewshot_cli.STATS_WINDOWS, "runs": runs, "embedding_layout": embedding_layout(a.encoder),
    }
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    (a.out / "bench.md").write_text(markdown(result, a))
    print(json.dumps({name: {k: r[k] for k in ("wall_s", "speedup_wall", "speedup_cpu", "identical_scores")}
                      for name, r in runs.items()}))
    return 0


def embedding_layout(encoder: str, n: int = 1024, repeats: int = 3) -> dict:
    """ms per window embedding the same ``n`` HAPT windows with the baseline's ``embed`` (the encoder's weights
    as they load, contiguous, batches of 64) and with today's (channels-last, batches of ``fewshot.BATCH``), best
    of ``repeats``, alternated; and the largest difference between the two's features."""
    import numpy as np

    from imuedge.data import load_hapt, make_windows
    from imuedge.train import fewshot
    from imuedge.train.models import load_encoder

    enc = load_encoder(encoder).eval()
    x = make_windows(load_hapt(), enc.window, 64).x[:n].astype(np.float32)
    old = module_at("train/fewshot.py")
    ways = {f"contiguous, batches of 64 ({BASELINE})": lambda: old.embed(enc, x),
            f"channels-last, batches of {fewshot.BATCH} (now)": lambda: fewshot.embed(enc, x)}
    best, feats = {k: float("inf") for k in ways}, {}
    for _ in range(repeats):
        for k, fn in ways.items():
            t0 = time.perf_counter()
            feats[k] = fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    a, b = feats.values()
    return {"windows": len(x), "ms_per_window_best_of": repeats,
            **{k: round(v / len(x) * 1e3, 3) for k, v in best.items()},
            "max_feature_difference": float(np.abs(a - b).max())}


def markdown(r: dict, a) -> str:
    runs, lay = r["runs"], r["embedding_layout"]
    md = [f"# `imuedge train --shots {a.shots}` on HAPT as 61 CSV recordings: {r['labelled_windows']} windows "
          f"(hop {a.hop})", "", f"`{r['command'].strip()}`. Machine: {r['machine']['cpu']}, "
          f"{r['machine']['cores']} CPUs; load averages before and after each run in `bench.json`. One run each, "
          "one after the other in one process.", "",
          "| code | wall s | CPU s | speed-up wall | speed-up CPU | macro-F1 | accuracy | identical scores |",
          "|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, x in runs.items():
        md.append(f"| {name} | {x['wall_s']} | {x['cpu_s']} | {x['speedup_wall']}x | {x['speedup_cpu']}x | "
                  f"{x['macro_f1']:.4f} | {x['accuracy']:.4f} | "
                  + ("(the baseline)" if x is runs['baseline'] else 'yes' if x['identical_scores'] else 'no') + " |")
    md += ["", f"Embedding {lay['windows']} windows (ms per window, best of {lay['ms_per_window_best_of']}): "
           + "; ".join(f"{k} {v}" for k, v in lay.items() if k.startswith(("contiguous", "channels")))
           + f"; features differ by at most {lay['max_feature_difference']:.1e}.", ""]
    return "\n".join(md)


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
              "machine": {**machine(), "load_average_1_5_15_before_and_after_each": load},
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
