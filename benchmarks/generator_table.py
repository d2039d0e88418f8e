"""The three generators side by side: one row per generator and sampler (issue #22's comparison).

    python -m benchmarks.generator_table     # -> benchmarks/results/generator_compare/table.{json,md}

Every cell comes from a committed raw result, read here, never typed in:

* quality (TSTR macro-F1, discriminative score, Frechet distance; mean ± sample std over the
  seeds each generator was run with) from ``python -m benchmarks.generator_seeds`` summaries;
* augmentation gain at the acceptance cells of both protocols (few subjects k = 2, few labels
  n = 10; 5 seeds) from each generator's ``augmentation_bench.json``. The protocols train a
  generator per seed and distil it into a ``--student-steps`` student (4), so the gain sits on
  each generator's 4-step student row;
* speed from ONE side-by-side ``generator_bench`` run: samples/s in PyTorch (1 thread, batch 16)
  and the exported fp32 1-step students' ms per window in their runtimes (1 thread).

A sampler or cell a source does not have is "-"; a source file that is missing is named in the
output (``missing``) instead of failing the table.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from imuedge.atomic import atomic_write

R = "benchmarks/results"


@dataclass(frozen=True)
class Source:
    generator: str  # the name the table gives it
    seeds: str  # a generator_seeds summary (seeds.json)
    seeds_note: str  # what its seeds vary
    augmentation: str  # an augmentation_bench.json
    bundles: str  # the folder of its exported 1-step student's bundles in the speed run
    prefix: str = ""  # the prefix its samplers' names carry in the reports ("latent ", "VQ ")


SOURCES = (
    Source("latent (TimeLDM-style)", f"{R}/latent_generator/seeds/seeds.json", "5 training seeds",
           f"{R}/augmentation_latent/augmentation_bench.json", "runs/ldm-student-bundles/student_1", "latent "),
    Source("VQ (TimeVQVDM-style)", f"{R}/vq_generator/student_seeds/seeds.json", "5 training seeds",
           f"{R}/augmentation_vq/augmentation_bench.json", "runs/vq-student-bundles/student_1", "VQ "),
    Source("STFT (IMUDiffusion-style)", f"{R}/generator/eval_seeds/seeds.json",
           "1 training run (shipped), 5 evaluation seeds", f"{R}/augmentation_window_mean/augmentation_bench.json",
           "runs/stft-student-bundles/student_1"),
    Source("STFT, first framing (shipped until 2026-12-08)", f"{R}/generator/first_teacher/eval_seeds/seeds.json",
           "1 training run, 5 evaluation seeds", f"{R}/augmentation/augmentation_bench.json",
           "runs/stft-student-bundles/student_1"),
)
SPEED = f"{R}/generator_compare/generator_bench.json"
CELLS = (("few_subjects", "k", 2, ("0.5", "1")), ("few_labels", "n", 10, ("1", "5")))
STUDENT_STEPS = 4  # the augmentation protocols' student
FORMATS = ("onnx", "tflite", "pte")


def read(path: str, missing: list[str]) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        missing.append(path)
        return None


def metric(row: dict, name: str) -> dict | None:
    s = row.get(name)
    return None if s is None else {"mean": s["mean"], "std": s["std"], "seeds": len(s["values"])}


def gains(aug: dict | None) -> dict:
    """{'few_subjects k=2 0.5x': {mean, std, seeds}, ...} at the acceptance cells, 5-seed cells or partial."""
    out = {}
    for protocol, key, value, ratios in CELLS:
        cell = next((c for c in (aug or {}).get("cells", []) if c["protocol"] == protocol and c.get(key) == value), None)
        for r in ratios:
            g = (cell or {}).get("synthetic", {}).get(r, {}).get("gain")
            out[f"{protocol} {key}={value} {r}x"] = (None if g is None else
                                                     {"mean": g["mean"], "std": g["std"], "seeds": len(g["per_seed"])})
    return out


def table(sources=SOURCES, speed_path: str = SPEED) -> dict:
    missing: list[str] = []
    speed = read(speed_path, missing) or {"samplers": {}, "bundles": {}}
    rows = []
    for src in sources:
        seeds = read(src.seeds, missing) or {"samplers": {}}
        aug = gains(read(src.augmentation, missing))
        for name, row in seeds["samplers"].items():
            sp = speed["samplers"].get(name, {})
            one_step = name == f"{src.prefix}student 1-step"
            rows.append({
                "generator": src.generator, "sampler": name, "seeds_vary": src.seeds_note,
                "network_evaluations_per_window": row.get("network_evaluations_per_window"),
                **{m: metric(row, m) for m in ("TSTR_macro_f1", "TSTR_over_TRTR", "discriminative_score",
                                               "frechet_distance")},
                "augmentation_gain": aug if name == f"{src.prefix}student {STUDENT_STEPS}-step" else None,
                "samples_per_second_1_thread": sp.get("samples_per_second_1_threads"),
                "exported_ms_per_window_1_thread": ({f: speed["bundles"].get(f"{src.bundles}/{f}-fp32", {})
                                                     .get("ms_per_window_1_thread") for f in FORMATS}
                                                    if one_step else None)})
    return {"rows": rows, "speed_run": {"path": speed_path, "machine": speed.get("machine"),
                                        "command": speed.get("command"), "batch": speed.get("batch")},
            "sources": [src.__dict__ for src in sources], "missing": missing}


def markdown(t: dict) -> str:
    def ms(s, digits=3):
        return "-" if s is None else f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"

    def gain(a, protocol, key, value, ratios):
        if a is None:
            return ""
        cells = [a.get(f"{protocol} {key}={value} {r}x") for r in ratios]
        if all(c is None for c in cells):
            return "not run"
        n = {c["seeds"] for c in cells if c}
        return " / ".join("-" if c is None else f"{c['mean']:+.3f} ± {c['std']:.3f}" for c in cells) + \
            ("" if n == {5} else f" ({'/'.join(map(str, sorted(n)))} seeds)")

    lines = ["# The three generators side by side (issue #22)", "",
             "Written by `python -m benchmarks.generator_table` from the raw results it names in `table.json`: "
             "quality as mean ± sample std over seeds (what the seeds vary is in the second column), 50 synthetic "
             "windows per class, guidance 1.5, 1D CNN on the real test subjects; augmentation gain = (real + "
             "synthetic) - (real only) at the two protocols' acceptance cells, 5 seeds, on the 4-step student "
             "row (the protocols distil each seed's generator into one); speed from one side-by-side "
             f"`generator_bench` run (batch {t['speed_run']['batch']}, 1 thread; {t['speed_run']['machine']}).", "",
             "| generator | seeds | sampler | NFE / window | TSTR macro-F1 | discriminative (lower is better) | "
             "Frechet | aug. gain, few subjects k=2 (0.5x / 1x) | aug. gain, few labels n=10 (1x / 5x) | "
             "samples/s (PyTorch, 1 thread) | exported fp32, ms / window (.onnx / .tflite / .pte) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in t["rows"]:
        a, ex, sps = r["augmentation_gain"], r["exported_ms_per_window_1_thread"], r["samples_per_second_1_thread"]
        lines.append(
            f"| {r['generator']} | {r['seeds_vary']} | {r['sampler']} | {r['network_evaluations_per_window'] or '-'} | "
            f"{ms(r['TSTR_macro_f1'])} | {ms(r['discriminative_score'])} | {ms(r['frechet_distance'], 1)} | "
            f"{gain(a, 'few_subjects', 'k', 2, ('0.5', '1'))} | {gain(a, 'few_labels', 'n', 10, ('1', '5'))} | "
            f"{'-' if sps is None else f'{sps:,.0f}'} | "
            f"{'' if ex is None else ' / '.join('-' if ex[f] is None else f'{ex[f]:.3f}' for f in FORMATS)} |")
    if t["missing"]:
        lines += ["", "Missing sources (their cells are '-'): " + ", ".join(f"`{m}`" for m in t["missing"])]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.generator_table", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=f"{R}/generator_compare")
    a = p.parse_args(argv)
    t = table()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "table.json", lambda f: f.write(json.dumps(t, indent=2) + "\n"))
    text = markdown(t)
    atomic_write(out / "table.md", lambda f: f.write(text))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
