"""Which int8 ONNX form does ONNX Runtime run fastest here, and does it keep parity? fp32 vs each form, side by side.

    python -m benchmarks.onnx_int8_bench CHECKPOINT [CHECKPOINT ...] [--rounds 1000] [--out benchmarks/results/onnx_int8]

Per checkpoint: the fp32 graph is exported once (``export.onnx_export.export_fp32``), then
quantized by ``quantize_static`` in each form of ``FORMS`` (QDQ vs QOperator, u8/s8 activations
and weights, per-channel or per-tensor weights, reduce_range), with the exporter's own float nodes
(``float_nodes``) and calibration (200 HAPT train-split windows). Every model runs in ONNX Runtime
(CPUExecutionProvider, intra_op_num_threads=1, graph optimisation ORT_ENABLE_ALL as the bundle
predictor loads it; the fp32 graph and the exporter's form also at ORT_ENABLE_BASIC and _EXTENDED),
all loaded in this one process and timed ROUND-ROBIN: each round runs one
window through every model in turn (the order rotating per round), so load on the shared machine
falls on all of them alike; medians over the rounds. Parity as the exporter checks it: top-1
agreement with PyTorch fp32 and macro-F1 on HAPT test-split windows (``--parity-windows``).

Writes ``OUT/onnx_int8_bench.json`` and ``.md``.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from imuedge.command_line import relative_path
from imuedge.machine import describe

from .side_by_side import main as side_by_side_main, round_robin

# (key, form): the exporter's default first
def forms():
    from imuedge.export.onnx_export import INT8_FORM, Int8Form

    out = {"default": INT8_FORM}
    for f in (Int8Form("qdq", "s8", "s8"), Int8Form("qdq", "u8", "s8"), Int8Form("qdq", "u8", "s8", reduce_range=True),
              Int8Form("qdq", "u8", "u8"), Int8Form("qoperator", "u8", "s8", reduce_range=True),
              Int8Form("qoperator", "u8", "u8"), Int8Form("qdq", "u8", "s8", reduce_range=True, float_input_layer=False),
              Int8Form("qdq", "u8", "u8", float_input_layer=False),
              Int8Form("qoperator", "u8", "s8", reduce_range=True, float_input_layer=False)):
        if f != INT8_FORM:
            out[f.name] = f
    return out


def measure(checkpoint: str, a, log) -> dict:
    import onnx
    import onnxruntime as ort
    import torch

    from imuedge.export import target_from_checkpoint
    from imuedge.export.cli import load_windows
    from imuedge.export.onnx_export import Int8Form, export_fp32, float_nodes, inspect_onnx, quantize, strip_metadata
    from imuedge.export.quantize import op_layers
    from imuedge.train.metrics import macro_f1

    torch.set_num_threads(1)
    target = target_from_checkpoint(checkpoint)
    names = target.output.get("class_names")
    cal, x, y, _ = load_windows("hapt", target.window, 200, a.parity_windows, class_names=names)
    k = len(names) if names else int(y.max()) + 1
    ref = target.reference(x).numpy().argmax(1)
    graph = torch.export.export(target.prepared_module(), target.example_inputs).graph_module
    models, rows = {}, {}
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export_fp32(target, fp32, op_layers(graph))
        fp32_graph = onnx.load(str(fp32)).graph
        floats, exclude = float_nodes(target, graph, fp32_graph)
        paths = {"fp32": Path(tmp) / "fp32_stripped.onnx"}
        strip_metadata(fp32, paths["fp32"])  # as the exporter ships every artifact
        for key, form in forms().items():
            form_floats, form_exclude = float_nodes(target, graph, fp32_graph, form)
            log(f"[onnx-int8] {Path(checkpoint).name}: quantizing {key} ({form.name})")
            paths[key] = Path(tmp) / f"{len(paths)}.onnx"
            rows[key] = {"form": form.name, "float_modules": form_floats}
            try:
                quantize(fp32, paths[key], cal, form_exclude, form)
                strip_metadata(paths[key], paths[key])
            except Exception as e:  # noqa: BLE001 - a form ORT cannot write for this graph is a row, not a crash
                rows[key]["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                del paths[key]
        for key, path in paths.items():
            row = rows.setdefault(key, {"form": "fp32"})
            try:
                sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            except Exception as e:  # noqa: BLE001
                row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                continue
            name = sess.get_inputs()[0].name
            pred = np.concatenate([sess.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))]).argmax(1)
            row.update(bytes=path.stat().st_size, quantized_ops=inspect_onnx(path)["int8_ops"],
                       top1_agreement=float(np.mean(pred == ref)), macro_f1=float(macro_f1(y, pred, k)))
            models[key] = (sess, name)
        # the graph optimisation level: the bundle predictor's default (all) against basic and extended
        # and with ORT's graph optimisations off (no fused integer kernels: the QDQ graph's own arithmetic),
        # which tells a quantization error from a kernel's (the u8 x s8 saturation without reduce_range)
        levels = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                  "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                  "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}
        full_range = Int8Form("qdq", "u8", "s8").name
        wanted = {"fp32": ("basic", "extended"), "default": ("basic", "extended", "disabled"),
                  full_range: ("disabled",)}
        for key in [k for k in wanted if k in models]:
            for level in wanted[key]:
                value = levels[level]
                o = ort.SessionOptions()
                o.intra_op_num_threads, o.inter_op_num_threads, o.graph_optimization_level = 1, 1, value
                sess = ort.InferenceSession(str(paths[key]), o, providers=["CPUExecutionProvider"])
                out = sess.run(None, {models[key][1]: x})[0].argmax(1)
                rows[f"{key} @ {level}"] = {**{k2: v for k2, v in rows[key].items()},
                                            "form": f"{rows[key]['form']}, " + (f"ORT_ENABLE_{level.upper()}" if level != "disabled"
                                                                                  else "ORT_DISABLE_ALL"),
                                            "top1_agreement": float(np.mean(out == ref)),
                                            "macro_f1": float(macro_f1(y, out, k))}
                models[f"{key} @ {level}"] = (sess, models[key][1])
    windows = [np.ascontiguousarray(w[None]) for w in x[:64]]
    times = round_robin({key: (lambda r, name=name: {name: windows[r % len(windows)]},
                               lambda feed, sess=sess: sess.run(None, feed)) for key, (sess, name) in models.items()},
                        a.rounds, a.warmup)
    fp32_f1 = rows["fp32"]["macro_f1"]
    for key, t in times.items():
        rows[key].update(median_ms=float(np.median(t)), p99_ms=float(np.percentile(t, 99)))
        rows[key]["speedup_vs_fp32"] = float(np.median(times["fp32"]) / np.median(t))
        rows[key]["paired_median_diff_vs_fp32_ms"] = float(np.median(t - times["fp32"]))
        if not key.startswith("fp32"):
            rows[key]["macro_f1_drop"] = fp32_f1 - rows[key]["macro_f1"]
    return {"checkpoint": relative_path(checkpoint), "model": type(getattr(target.module, "encoder", target.module))
            .__name__, "float_modules": floats, "float_nodes": len(exclude), "parity_windows": int(len(x)),
            "rows": rows}


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = ["# ONNX Runtime: fp32 vs int8 forms, side by side", "",
             f"Machine: {describe(m)}; shared with other jobs. {r['date']}. Command: `{r['command']}`.",
             f"Latency: batch 1, onnxruntime {r.get('onnxruntime') or m['packages']['onnxruntime']} CPUExecutionProvider, 1 intra-op thread, "
             f"ORT_ENABLE_ALL (as the bundle predictor loads it) unless a row names another level; all models of "
             f"a checkpoint loaded in one process and timed round-robin "
             f"({r['rounds']} rounds after {r['warmup']} warm-up, order rotating), MEDIANS. Parity: top-1 agreement "
             f"with PyTorch fp32 and macro-F1 on HAPT test-split windows; int8 gate: agreement >= 0.98 and "
             f"macro-F1 drop <= 0.02.", ""]
    for c in r["checkpoints"]:
        kept = [set(row["float_modules"]) for row in c["rows"].values() if "float_modules" in row]
        always = [m for m in c["float_modules"] if all(m in k for k in kept)]
        first = sorted(set().union(*kept) - set(always))
        lines += [f"## {c['model']} (`{c['checkpoint']}`)", "",
                  f"Float in every int8 form: {', '.join(always)}. Float too, except in the forms marked "
                  f"'first layer int8': {', '.join(first) or '–'}.", "",
                  "| form | size (KB) | median 1t (ms) | p99 1t (ms) | vs fp32 | top-1 agreement | macro-F1 | "
                  "F1 drop | parity |", "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for key, row in c["rows"].items():
            label = row["form"] + (" (exporter default)" if key == "default" else "")
            if "error" in row:
                lines.append(f"| {label} | – | – | – | – | – | – | – | {row['error']} |")
                continue
            drop = "–" if key.startswith("fp32") else f"{row['macro_f1_drop']:+.4f}"
            ok = key.startswith("fp32") or (row["top1_agreement"] >= 0.98 and row["macro_f1_drop"] <= 0.02)
            lines.append(f"| {label} | {row['bytes'] / 1024:.0f} | {row['median_ms']:.3f} | {row['p99_ms']:.3f} | "
                         f"{row['speedup_vs_fp32']:.2f}x | {row['top1_agreement']:.4f} | {row['macro_f1']:.4f} | "
                         f"{drop} | "
                         f"{'reference' if key == 'fp32' else ('ok' if ok else 'FAILS')} |")
        lines.append("")
    lines += ["'vs fp32' > 1: the form runs faster than the fp32 graph in the same rounds.", ""]
    return "\n".join(lines)


def options(p) -> None:
    p.add_argument("--parity-windows", type=int, default=512)


def main(argv=None) -> int:
    return side_by_side_main(argv, doc=__doc__, name="onnx_int8_bench", rounds=1000, warmup=50, measure=measure,
                             markdown=markdown, options=options, packages=("onnxruntime",))


if __name__ == "__main__":
    sys.exit(main())
