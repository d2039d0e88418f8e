"""The generator report over seeds: every sampler's numbers from several ``evaluate`` runs, side by side.

    python -m benchmarks.generator_seeds benchmarks/results/latent_generator/seeds

reads ``FOLDER/seed*/results.json`` (one ``python -m imuedge.train.diffusion.evaluate --seed S`` run each)
and writes ``FOLDER/seeds.json`` and ``FOLDER/seeds.md``: per sampler and metric the mean, the sample
standard deviation (ddof 1), the median and every seed's value, and TRTR the same way; where the reports
have the motion table (``evaluate.motion_vs_real``), its ratios averaged over seeds. A sampler missing
from a seed's report is reported with the seeds it has. ``--seed S=DIR`` (repeatable) counts ``DIR/results.json``
as seed S, for a seed's report written elsewhere before (its folder is recorded).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from imuedge.atomic import atomic_write

METRICS = ("TSTR_macro_f1", "TSTR_over_TRTR", "discriminative_score", "frechet_distance",
           "samples_per_second_1_thread")


def stats(values: list[float]) -> dict:
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "median": float(np.median(v)), "values": [float(x) for x in v]}


def summarize(folder: Path, elsewhere: dict[int, Path] | None = None) -> dict:
    runs = {}
    for path in sorted(folder.glob("seed*/results.json")):
        runs[int(path.parent.name[4:])] = json.loads(path.read_text())
    for seed, other in (elsewhere or {}).items():
        if seed in runs:
            raise ValueError(f"seed {seed} is both {folder}/seed{seed} and {other}")
        runs[seed] = json.loads((Path(other) / "results.json").read_text())
    if not runs:
        raise FileNotFoundError(f"{folder}: no seed*/results.json (write them with evaluate --seed S --out "
                                f"{folder}/seedS)")
    seeds = sorted(runs)
    samplers = list(dict.fromkeys(name for s in seeds for name in runs[s]["samplers"]))
    out = {"folder": str(folder), "seeds": seeds,
           **({"seeds_elsewhere": {str(s): str(d) for s, d in elsewhere.items()}} if elsewhere else {}),
           "machine": sorted({runs[s]["machine"].split("; load average")[0] for s in seeds}),  # loads: below
           "load_average_at_start": [runs[s]["machine"].split("load average at start ")[-1].split(",")[0]
                                     for s in seeds if "load average at start " in runs[s]["machine"]],
           "per_class": sorted({runs[s]["per_class"] for s in seeds}),
           "TRTR_macro_f1": stats([runs[s]["TRTR_macro_f1"] for s in seeds]), "samplers": {}}
    for name in samplers:
        have = [s for s in seeds if name in runs[s]["samplers"]]
        row = {"seeds": have, "network_evaluations_per_window":
               runs[have[0]]["samplers"][name].get("network_evaluations_per_window")}
        for m in METRICS:
            vals = [runs[s]["samplers"][name].get(m) for s in have]
            if all(v is not None for v in vals):
                row[m] = stats(vals)
        motions = [runs[s]["samplers"][name].get("motion_vs_real") for s in have]
        if motions and all(motions):
            row["motion_vs_real"] = {c: {sensor: stats([m[c][sensor] for m in motions]) for sensor in ("acc", "gyro")}
                                     for c in motions[0]}
        out["samplers"][name] = row
    return out


def markdown(r: dict) -> str:
    def cell(row, m, digits=3):
        if m not in row:
            return "-"
        s = row[m]
        return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f} (median {s['median']:.{digits}f})"

    t = r["TRTR_macro_f1"]
    other = r.get("seeds_elsewhere", {})
    elsewhere = "".join(f" and `{d}/results.json` (seed {s})" for s, d in other.items())
    flags = "".join(f" --seed {s}={d}" for s, d in other.items())
    lines = [f"# The generator report over seeds {', '.join(map(str, r['seeds']))}", "",
             f"From `{r['folder']}/seed*/results.json`{elsewhere} by `python -m benchmarks.generator_seeds "
             f"{r['folder']}{flags}`. "
             f"Machine: {'; '.join(r['machine'])} (1-minute load average at each seed's start: "
             f"{', '.join(r['load_average_at_start']) or '-'}). Windows per class: {', '.join(map(str, r['per_class']))}. "
             f"TRTR macro-F1 (1D CNN on real training windows) {t['mean']:.3f} ± {t['std']:.3f} "
             f"({', '.join(f'{v:.3f}' for v in t['values'])}). Mean ± sample std (ddof 1) over seeds, then the median.",
             "", "| sampler | seeds | TSTR macro-F1 | TSTR/TRTR | discriminative (lower is better) | Frechet | "
             "samples/s (1 thread) | TSTR per seed |", "|---|---|---|---|---|---|---|---|"]
    for name, row in r["samplers"].items():
        per_seed = ", ".join(f"{v:.3f}" for v in row["TSTR_macro_f1"]["values"]) if "TSTR_macro_f1" in row else "-"
        lines.append(f"| {name} | {len(row['seeds'])} | {cell(row, 'TSTR_macro_f1')} | {cell(row, 'TSTR_over_TRTR', 2)} "
                     f"| {cell(row, 'discriminative_score')} | {cell(row, 'frechet_distance', 1)} "
                     f"| {cell(row, 'samples_per_second_1_thread', 0)} | {per_seed} |")
    moving = {name: row["motion_vs_real"] for name, row in r["samplers"].items() if "motion_vs_real" in row}
    if moving:
        classes = list(next(iter(moving.values())))
        lines += ["", "How much the synthetic windows move (`evaluate.motion_vs_real`: median window std about its "
                  "own mean, synthetic over real), accelerometer / gyroscope, mean over seeds; 1 is the same:", "",
                  "| sampler | " + " | ".join(classes) + " |", "|---|" + "---|" * len(classes)]
        for name, m in moving.items():
            lines.append(f"| {name} | " + " | ".join(f"{m[c]['acc']['mean']:.2f} / {m[c]['gyro']['mean']:.2f}"
                                                     for c in classes) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.generator_seeds", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", help="a folder of seed*/results.json")
    p.add_argument("--seed", action="append", default=[], metavar="S=DIR",
                   help="DIR/results.json is seed S's report (repeatable)")
    a = p.parse_args(argv)
    folder = Path(a.folder)
    elsewhere = {}
    for item in a.seed:
        seed, sep, other = item.partition("=")
        if not sep or not seed.isdigit() or not other:
            p.error(f"--seed {item}: give S=DIR, for example --seed 0=benchmarks/results/vq_generator/students")
        elsewhere[int(seed)] = Path(other)
    try:
        r = summarize(folder, elsewhere)
    except (FileNotFoundError, json.JSONDecodeError, KeyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    atomic_write(folder / "seeds.json", lambda f: f.write(json.dumps(r, indent=2) + "\n"))
    text = markdown(r)
    atomic_write(folder / "seeds.md", lambda f: f.write(text))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
