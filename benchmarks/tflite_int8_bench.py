"""Why is the int8 .tflite no faster than its fp32 sibling here? The whole model and each conv, side by side.

    python -m benchmarks.tflite_int8_bench CHECKPOINT [--rounds 500] [--out benchmarks/results/tflite_int8]

Two measurements on one checkpoint, each timed ROUND-ROBIN in one process (each round runs one input
through every model in turn, the order rotating), medians, batch 1, 1 thread:

1. The whole model, exported by the project's own LiteRT path (``export.tflite.export_tflite``, fp32 and
   int8 with calibration on 200 HAPT train-split windows), run in ai-edge-litert's Interpreter twice: with
   its default XNNPACK delegate (as the bundle predictor runs it) and with the builtin kernels only
   (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``). That tells whether int8 is slow in itself or in XNNPACK.
2. Every 2-D convolution of the model alone, at its own shape (channels in/out, kernel, stride, the
   input size it sees in the model), with the model's own weights, converted and quantized the same way,
   fp32 vs int8 in XNNPACK: which layers int8 speeds up and which it slows.

Writes ``OUT/tflite_int8_bench.json`` and ``.md``.
"""
from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

import numpy as np

from imuedge.command_line import relative_path
from imuedge.machine import describe

from .side_by_side import main as side_by_side_main, round_robin


def interpreter(path: Path, delegate: bool):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if delegate else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    it = Interpreter(model_path=str(path), num_threads=1, experimental_op_resolver_type=resolver)
    it.allocate_tensors()
    return it


def timed(models: dict, inputs: dict, rounds: int, warmup: int) -> dict:
    """Median and p90 ms per interpreter, round-robin; ``inputs[key]`` is a list of arrays that model cycles
    through (set before the timer starts)."""
    def model(it, index, xs):
        return lambda r: it.set_tensor(index, xs[r % len(xs)]), lambda _: it.invoke()

    times = round_robin({key: model(it, index, inputs[key]) for key, (it, index) in models.items()}, rounds, warmup)
    return {k: {"median_ms": float(np.median(t)), "p90_ms": float(np.percentile(t, 90))} for k, t in times.items()}


def conv_shapes(target) -> list[dict]:
    """Each Conv2d of the model with the input shape it sees on the example window."""
    import torch

    module = target.prepared_module()
    seen = []

    def hook(name):
        def record(mod, args, _out):
            seen.append({"layer": name, "module": mod, "input": tuple(args[0].shape)})
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in module.named_modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        module(*target.example_inputs)
    for h in handles:
        h.remove()
    return seen


def convert(module, example, path: Path) -> None:
    import litert_torch

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        litert_torch.convert(module, example).export(str(path))


def measure_layers(target, tmp: Path, rounds: int, warmup: int, log) -> list[dict]:
    import torch

    from imuedge.export.tflite import inspect_tflite, quantize_tflite

    rows, models, inputs = [], {}, {}
    rng = np.random.default_rng(0)
    for i, c in enumerate(conv_shapes(target)):
        conv = c["module"]
        shape = c["input"]
        example = (torch.as_tensor(rng.standard_normal(shape), dtype=torch.float32),)
        fp32, int8 = tmp / f"conv{i}.tflite", tmp / f"conv{i}.int8.tflite"
        log(f"[tflite-int8] conv {c['layer']} {shape[1]}->{conv.out_channels} k{conv.kernel_size[0]} "
            f"s{conv.stride[0]} at {shape[2]}x{shape[3]}")
        convert(torch.nn.Sequential(conv).eval(), example, fp32)
        calib = rng.standard_normal((32, *shape[1:])).astype(np.float32)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            quantize_tflite(fp32, int8, calib, [], float_output=False)
        if not inspect_tflite(int8)["int8_ops"]:
            raise RuntimeError(f"the single-conv model of {c['layer']} did not come out int8")
        for prec, path in (("fp32", fp32), ("int8", int8)):
            it = interpreter(path, delegate=True)
            index = it.get_input_details()[0]["index"]
            models[(i, prec)] = (it, index)
            inputs[(i, prec)] = [rng.standard_normal(shape).astype(np.float32) for _ in range(4)]
        rows.append({"layer": c["layer"], "in_channels": shape[1], "out_channels": conv.out_channels,
                     "kernel": conv.kernel_size[0], "stride": conv.stride[0], "input_hw": [shape[2], shape[3]],
                     "macs": int(conv.out_channels * shape[1] // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]
                                 * (shape[2] // conv.stride[0]) * (shape[3] // conv.stride[1]))})
    times = timed(models, inputs, rounds, warmup)
    for i, row in enumerate(rows):
        row["fp32_ms"] = times[(i, "fp32")]["median_ms"]
        row["int8_ms"] = times[(i, "int8")]["median_ms"]
        row["int8_speedup"] = row["fp32_ms"] / row["int8_ms"]
    return rows


def measure(checkpoint: str, a, log) -> dict:
    import torch

    from imuedge.export import target_from_checkpoint
    from imuedge.export.cli import load_windows
    from imuedge.export.quantize import float_prefixes
    from imuedge.export.tflite import export_tflite, xnnpack_partitions

    torch.set_num_threads(1)
    target = target_from_checkpoint(checkpoint)
    cal, x, _y, _ = load_windows("hapt", target.window, 200, 64, class_names=target.output.get("class_names"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = {}
        for prec in ("fp32", "int8"):
            paths[prec] = tmp / f"model.{prec}.tflite"
            log(f"[tflite-int8] exporting {Path(checkpoint).name} {prec}")
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                export_tflite(target, prec, cal if prec == "int8" else None, paths[prec])
        partitions = {prec: xnnpack_partitions(path) for prec, path in paths.items()}
        models, inputs = {}, {}
        windows = [np.ascontiguousarray(w[None]) for w in x]
        for prec, path in paths.items():
            for delegate in (True, False):
                it = interpreter(path, delegate)
                key = f"{prec}, {'XNNPACK' if delegate else 'builtin kernels'}"
                models[key] = (it, it.get_input_details()[0]["index"])
                inputs[key] = windows
        log("[tflite-int8] whole model, round-robin")
        whole = timed(models, inputs, a.rounds, a.warmup)
        layers = measure_layers(target, tmp, a.rounds, a.warmup, log)
    graph = torch.export.export(target.prepared_module(), target.example_inputs).graph_module
    floats = float_prefixes(target, graph)
    for row in layers:  # the exporter keeps these float in the int8 bundle (the stem reading the float image)
        row["float_in_bundle"] = any(row["layer"] == f or row["layer"].startswith(f + ".") for f in floats)
    ratio = {d: whole[f"fp32, {d}"]["median_ms"] / whole[f"int8, {d}"]["median_ms"] for d in ("XNNPACK", "builtin kernels")}
    return {"checkpoint": relative_path(checkpoint), "model": type(getattr(target.module, "encoder", target.module)).__name__,
            "float_modules": list(floats), "xnnpack_partitions": partitions, "whole_model": whole, "int8_speedup": ratio, "layers": layers}


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = ["# LiteRT (.tflite): int8 vs fp32, the whole model and each convolution", "",
             f"Machine: {describe({'cpu_flags': r.get('cpu_flags'), **m})}; shared with other jobs. {r['date']}. Command: `{r['command']}`.",
             f"ai-edge-litert {r.get('ai_edge_litert') or m['packages']['ai-edge-litert']}, batch 1, 1 thread; models timed round-robin in one process "
             f"({r['rounds']} rounds after {r['warmup']} warm-up, order rotating), MEDIANS.", ""]
    for c in r["checkpoints"]:
        w = c["whole_model"]
        parts = c.get("xnnpack_partitions", {})
        lines += [f"## {c['model']} (`{c['checkpoint']}`)", "",
                  f"XNNPACK delegate partitions: fp32 {parts.get('fp32', '–')}, int8 {parts.get('int8', '–')} (more than "
                  f"one: the ops the delegate does not take run on builtin kernels between the partitions).", "",
                  "| kernels | fp32 (ms) | int8 (ms) | int8 speed-up |",
                  "|---|---:|---:|---:|"]
        for d in ("XNNPACK", "builtin kernels"):
            lines.append(f"| {d}{' (as bundles run)' if d == 'XNNPACK' else ''} | {w[f'fp32, {d}']['median_ms']:.3f} | "
                         f"{w[f'int8, {d}']['median_ms']:.3f} | {c['int8_speedup'][d]:.2f}x |")
        if not c["layers"]:
            lines += ["", "The model has no 2-D convolution: no per-layer rows.", ""]
            continue
        lines += ["", "Each 2-D convolution alone at its shape in the model, XNNPACK:", "",
                  "| layer | in -> out | kernel/stride | input | MMAC | fp32 (ms) | int8 (ms) | int8 speed-up |",
                  "|---|---|---|---|---:|---:|---:|---:|"]
        for row in c["layers"]:
            lines.append(f"| {row['layer']}{' (float in the bundle)' if row.get('float_in_bundle') else ''} | {row['in_channels']} -> {row['out_channels']} | {row['kernel']}/{row['stride']} | "
                         f"{row['input_hw'][0]}x{row['input_hw'][1]} | {row['macs'] / 1e6:.2f} | {row['fp32_ms']:.3f} | "
                         f"{row['int8_ms']:.3f} | {row['int8_speedup']:.2f}x |")
        quantized = [row for row in c["layers"] if not row.get("float_in_bundle")]
        f32 = sum(row["fp32_ms"] for row in quantized)
        i8 = sum(row["int8_ms"] for row in quantized)
        lines += ["", f"Sum over the {len(quantized)} convolutions the int8 bundle quantizes: fp32 {f32:.3f} ms, int8 {i8:.3f} ms ({f32 / i8:.2f}x). Each "
                  "single-conv int8 model also quantizes its float input and dequantizes its output (the cost the "
                  "stem pays in the bundle, where the spectrogram image is float); inside the bundle the other "
                  "convolutions pass int8 to each other, so their rows overstate int8's cost by that step.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    return side_by_side_main(argv, doc=__doc__, name="tflite_int8_bench", rounds=500, warmup=30, measure=measure,
                             markdown=markdown, packages=("ai-edge-litert",))


if __name__ == "__main__":
    sys.exit(main())
