"""Generator benchmark: samples per second of every sampler, side by side in one run, same batch.

    python -m benchmarks.generator_bench --teacher runs/teacher/teacher.pt \
        --students runs/student/student_4.pt,runs/student/student_2.pt,runs/student/student_1.pt \
        --bundles runs/student-bundles --out benchmarks/results/generator

Samplers: the teacher's full ancestral DDPM chain (T steps), DDIM at 50 / 10 / 4 steps
(guidance 1.5: two network evaluations per step), and each distilled student (one
evaluation per step, guidance folded in), each on the same batch of ``--batch``
windows, with 1 torch thread and with all threads; the median of ``--repeats``
timed runs after one warm-up (the DDPM chain: one timed run). ``--latent`` / ``--vq`` add the
latent and VQ models' DDIM 10 / 4 samplers, and ``--students`` takes any distilled student
(STFT, latent or VQ). The exported generator bundles in ``--bundles`` (``imuedge diffusion
export`` folders, comma-separated) are timed per window in their runtimes (fp32 and int8
alike). Writes generator_bench.json (raw) and generator_bench.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from imuedge.machine import describe


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", default="", help="the STFT teacher (its DDPM and DDIM samplers)")
    p.add_argument("--latent", default="", help="a latent diffusion checkpoint (its DDIM 10 / 4 samplers)")
    p.add_argument("--vq", default="", help="a VQ diffusion checkpoint (its DDIM 10 / 4 cascades)")
    p.add_argument("--students", default="")
    p.add_argument("--bundles", default="", help="comma-separated folders of generator bundles")
    p.add_argument("--out", default="benchmarks/results/generator")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--guidance", type=float, default=1.5)
    p.add_argument("--skip-ddpm", action="store_true")
    p.add_argument("--note", default="", help="a line added to the machine line (e.g. what else ran)")
    a = p.parse_args(argv)
    from imuedge.train.diffusion.evaluate import samplers

    runs = samplers(a.teacher, [s for s in a.students.split(",") if s], not a.skip_ddpm, a.guidance,
                    latent_path=a.latent or None, vq_path=a.vq or None)
    classes = torch.arange(a.batch) % 6
    all_threads = os.cpu_count() or 1
    res = {"machine": describe() + (f"; {a.note}" if a.note else ""),
           "batch": a.batch, "guidance": a.guidance, "command": "python -m benchmarks.generator_bench " +
           " ".join(argv if argv is not None else sys.argv[1:]), "samplers": {}, "bundles": {}}
    for threads in (1, all_threads):
        torch.set_num_threads(threads)
        for name, (fn, nfe) in runs.items():
            g = torch.Generator().manual_seed(0)
            ddpm = name.startswith("teacher DDPM")
            if not ddpm:
                fn(classes, g)  # warm-up
            secs = timed(lambda: fn(classes, g), 1 if ddpm else a.repeats)
            med = statistics.median(secs)
            row = res["samplers"].setdefault(name, {"network_evaluations_per_window": nfe})
            row[f"seconds_{threads}_threads"] = secs
            row[f"samples_per_second_{threads}_threads"] = round(a.batch / med, 3)
            print(f"[generator bench] {name}, {threads} thread(s): {a.batch / med:.2f} samples/s", flush=True)
    ref = next((k for k in res["samplers"] if k.startswith("teacher DDPM")), None)
    if ref:
        for name, row in res["samplers"].items():
            row["speed_up_vs_ddpm_1_thread"] = round(row["samples_per_second_1_threads"]
                                                     / res["samplers"][ref]["samples_per_second_1_threads"], 1)
    if a.bundles:
        from imuedge.bundle import load_bundle

        folders = [f for b in a.bundles.split(",") if b for f in sorted(Path(b).iterdir())
                   if (f / "imuedge.json").is_file()]
        for folder in folders:
            name = str(folder) if len(a.bundles.split(",")) > 1 else folder.name
            g = load_bundle(folder, threads=1)
            z, c = g.noise(a.batch, 0), np.arange(a.batch) % len(g.class_names)
            g.generate(z, c)
            secs = timed(lambda: g.generate(z, c), a.repeats)
            res["bundles"][name] = {"ms_per_window_1_thread": round(1000 * statistics.median(secs) / a.batch, 3),
                                    "seconds": secs, "steps": g.manifest["sampler"]["steps"],
                                    "precision": g.manifest["precision"], "method": g.manifest["sampler"]["method"]}
            print(f"[generator bench] bundle {name}: {res['bundles'][name]['ms_per_window_1_thread']} "
                  f"ms/window", flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "generator_bench.json").write_text(json.dumps(res, indent=2) + "\n")
    lines = ["# Generator benchmark", "", f"Machine: {res['machine']}. Batch {a.batch}, medians of {a.repeats} runs "
             f"(DDPM: 1 run). Command: `{res['command']}`.", "",
             "| sampler | NFE/window | samples/s, 1 thread | samples/s, all threads | vs DDPM (1 thread) |",
             "|---|---|---|---|---|"]
    for name, row in res["samplers"].items():
        vs = row.get("speed_up_vs_ddpm_1_thread")  # none without the DDPM chain (--skip-ddpm)
        lines.append(f"| {name} | {row['network_evaluations_per_window']} | {row['samples_per_second_1_threads']} | "
                     f"{row[f'samples_per_second_{all_threads}_threads']} | {'-' if vs is None else f'{vs}x'} |")
    if res["bundles"]:
        lines += ["", "| exported student | steps | ms per window, 1 thread |", "|---|---|---|"]
        lines += [f"| {k} | {v['steps']} | {v['ms_per_window_1_thread']} |" for k, v in res["bundles"].items()]
    (out / "generator_bench.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
