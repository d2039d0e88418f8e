"""Where an exported .pte spends its time, operator by operator (ExecuTorch's ETDump, XNNPACK's per-operator events).

    python -m benchmarks.pte_profile [CHECKPOINT] [--runs 500] [--out benchmarks/results/pte_profile]

Exports CHECKPOINT (default ``reports/default/classifier.pt``) to .pte in fp32 and int8 (HAPT
calibration, as ``imuedge export`` does), runs each program ``--runs`` times on one thread over HAPT
test windows with event tracing on, and writes every XNNPACK operator's time in execution order:
``pte_profile.json`` (raw) and ``pte_profile.md``.

For an IMG2IMU model the in-graph spectrogram is the operators up to and including the frequency
resize's batch matmul and the reshape after it; the next transpose lays its images out NHWC for the
stem convolution (that transpose is paid with or without the spectrogram, so
``export_bench``'s with-vs-without share does not count it). The event timer ticks in whole
microseconds and an operator's time is rounded down to a tick: medians of sub-microsecond operators
read 0, means over many runs resolve them, still low.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from imuedge.command_line import command_line, relative_path
from imuedge.machine import describe, machine

DEFAULT_CKPT = "reports/default/classifier.pt"
WHOLE_CALL = ("DELEGATE_CALL", "Method::execute")  # events spanning the whole program, not one operator


def profile_pte(path: Path, windows: np.ndarray, runs: int) -> list[dict]:
    """[{op, median_us, mean_us}] for every event of ``runs`` executions of ``path``, one thread."""
    import torch
    from executorch.devtools import Inspector
    from executorch.extension.pybindings import portable_lib

    from imuedge.bundle import set_pte_threads

    set_pte_threads(1)
    module = portable_lib._load_for_executorch(str(path), enable_etdump=True, debug_buffer_size=0)
    for i in range(runs):
        module.forward((torch.from_numpy(np.ascontiguousarray(windows[i % len(windows)][None])),))
    etdump = path.with_suffix(".etdp")
    module.write_etdump_result_to_file(str(etdump))
    frame = next(b for b in Inspector(etdump_path=str(etdump)).event_blocks if b.name == "Execute").to_dataframe()
    return [{"op": str(r.event_name), "median_us": float(r.p50) * 1e3, "mean_us": float(r.avg) * 1e3}
            for r in frame.itertuples()]


def operators(ops: list[dict]) -> list[dict]:
    """The XNNPACK operators' events, in execution order (without the whole-program ones)."""
    return [o for o in ops if o["op"] not in WHOLE_CALL]


def spectrogram_ops(ops: list[dict]) -> int:
    """How many leading operators are the in-graph spectrogram (through the frequency resize); 0 if none."""
    bmm = next((i for i, o in enumerate(ops) if o["op"].startswith("Batch Matrix Multiply")), None)
    if bmm is None:
        return 0
    return bmm + 2 if bmm + 1 < len(ops) and ops[bmm + 1]["op"].startswith("Static Reshape") else bmm + 1


def summary(ops: list[dict]) -> dict:
    total = next((o for o in ops if o["op"] == "Method::execute"), None)
    layers = operators(ops)
    n = spectrogram_ops(layers)
    spec = sum(o["mean_us"] for o in layers[:n])
    after = layers[n] if n < len(layers) and layers[n]["op"].startswith("Transpose") else None
    return {"execute_median_us": total["median_us"] if total else None, "operators": len(layers),
            "spectrogram_operators": n, "spectrogram_mean_us": spec,
            "image_to_nhwc_mean_us": after["mean_us"] if after else None,
            "sum_of_operator_means_us": sum(o["mean_us"] for o in layers)}


def markdown(result: dict) -> str:
    lines = ["# Per-operator profile of the exported .pte (one thread)\n",
             f"Machine: {describe(result['machine'])}. Command: `{result['command']}`. {result['runs']} runs per "
             f"program over HAPT test windows; ETDump's XNNPACK operator events (1 us ticks, rounded down: see the "
             f"module docstring). Checkpoint: `{result['checkpoint']}`.\n"]
    for precision, r in result["programs"].items():
        s = r["summary"]
        nhwc = s["image_to_nhwc_mean_us"]
        lines += [f"## {precision}\n",
                  f"Method::execute median {s['execute_median_us']:.1f} us; {s['operators']} operators whose means "
                  f"sum to {s['sum_of_operator_means_us']:.1f} us (the rest: between operators, and rounding). "
                  f"In-graph spectrogram, the first {s['spectrogram_operators']} operators: "
                  f"{s['spectrogram_mean_us']:.1f} us; the transpose of its images to NHWC after it: "
                  + (f"{nhwc:.1f} us.\n" if nhwc is not None else "none.\n"),
                  "| # | operator | part | median (us) | mean (us) |", "|---:|---|---|---:|---:|"]
        n = s["spectrogram_operators"]
        for i, o in enumerate(operators(r["ops"])):
            part = "spectrogram" if i < n else "image layout" if i == n and o["op"].startswith("Transpose") else ""
            lines.append(f"| {i} | {o['op']} | {part} | {o['median_us']:.0f} | {o['mean_us']:.2f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", nargs="?", default=DEFAULT_CKPT,
                   help=f"classifier checkpoint (default {DEFAULT_CKPT})")
    p.add_argument("--runs", type=int, default=500, help="executions per program (default 500)")
    p.add_argument("--out", default="benchmarks/results/pte_profile", help="where pte_profile.json/.md go")
    a = p.parse_args(argv)

    from imuedge.export import target_from_checkpoint
    from imuedge.export.cli import load_windows
    from imuedge.export.pte import export_pte
    from imuedge.quiet import quiet_runtime

    target = target_from_checkpoint(a.checkpoint)
    calibration, x, _, _ = load_windows("hapt", target.window, 200, 64)
    programs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for precision in ("fp32", "int8"):
            path = Path(tmp) / f"{precision}.pte"
            with quiet_runtime():
                export_pte(target, precision, calibration, path)
            ops = profile_pte(path, x, a.runs)
            programs[precision] = {"ops": ops, "summary": summary(ops)}
            print(f"[pte_profile] {precision}: {json.dumps(programs[precision]['summary'])}", flush=True)
    result = {"machine": machine(), "checkpoint": relative_path(a.checkpoint), "runs": a.runs,
              "command": command_line(None if argv is None else ["benchmarks/pte_profile.py", *argv]),
              "programs": programs}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pte_profile.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "pte_profile.md").write_text(markdown(result) + "\n")
    print(f"[pte_profile] wrote {out / 'pte_profile.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
