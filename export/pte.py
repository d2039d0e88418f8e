"""ExecuTorch (.pte): torch.export -> [PT2E int8, XNNPACK quantizer] -> XNNPACK lowering -> .pte.

Straight line, like ExecuTorch's own ahead-of-time compiler:

    quantize (int8 only) -> to_edge_transform_and_lower(XnnpackPartitioner) -> to_executorch -> save

The graph is exported at batch 1 (``ExportTarget.example_inputs``); the
bundle's predictor loops over a batch. Ops the partitioner does not claim run
on ExecuTorch's portable kernels; each is checked against the kernels the
runtime actually has, and one it lacks fails this format, named with its layer.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch

from .quantize import float_prefixes, module_path, op_layers, op_name, pt2e_quantize, quantized_weight_ops
from .target import ExportError, ExportTarget, named_failure

FORMAT = "pte"
NOT_OPS = {"getitem", "executorch_call_delegate"}


def xnnpack_quantizer():
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                          get_symmetric_quantization_config)
    return XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))


def _delegated_ops(edge_gm) -> Counter:
    """Ops inside every XNNPACK-lowered submodule."""
    ops: Counter = Counter()
    for _, sub in edge_gm.named_children():
        original = getattr(sub, "original_module", None)
        if original is None:
            continue
        for n in original.graph.nodes:
            if n.op == "call_function" and op_name(n.target) not in NOT_OPS:
                ops[_short(op_name(n.target))] += 1
    return ops


def _short(name: str) -> str:
    return name.replace("aten.", "aten::", 1) if name.startswith("aten.") else name


def export_pte(target: ExportTarget, precision: str, calibration: np.ndarray | None, path: str | Path) -> dict:
    """Write ``path`` (.pte); return the backend report (delegation, quantized ops)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    module = target.prepared_module()
    report: dict = {"backend": "XNNPACK", "batch": int(target.example_inputs[0].shape[0])}

    # 1. quantize (int8): PT2E, XNNPACK quantizer, per-channel symmetric weights, static activations.
    if precision == "int8":
        gm = pt2e_quantize(target, module, xnnpack_quantizer(), calibration)
        qops = quantized_weight_ops(gm)
        n_int8 = sum(v for k, v in qops.items() if "(float)" not in k)
        if n_int8 == 0:
            raise ExportError("int8 was asked but no conv/linear got int8 weights; refusing to write a float "
                              "model as int8", FORMAT)
        report["quantized_ops"] = {k: v for k, v in qops.items() if v}
        report["activation_ranges"] = "PT2E HistogramObserver (XNNPACKQuantizer static config)"
        report["float_modules"] = list(float_prefixes(target, torch.export.export(module, target.example_inputs)
                                                      .graph_module))
        program = torch.export.export(gm, target.example_inputs)
    else:
        program = torch.export.export(module, target.example_inputs)
    layers = op_layers(program.graph_module)

    # 2. lower: everything XNNPACK supports goes into delegate blobs.
    try:
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    except Exception as e:  # an op the edge dialect cannot take
        raise _named_failure(e, layers, "lowering to the ExecuTorch edge dialect") from e
    edge_gm = edge.exported_program().graph_module
    delegated = _delegated_ops(edge_gm)
    portable: Counter = Counter()
    portable_layers: dict[str, list[str]] = {}
    for n in edge_gm.graph.nodes:
        if n.op == "call_function" and op_name(n.target) not in NOT_OPS:
            name = _short(op_name(n.target))
            portable[name] += 1
            portable_layers.setdefault(name, [])
            if (p := module_path(n) or "<top level>") not in portable_layers[name]:
                portable_layers[name].append(p)
    if precision == "int8":
        float_compute = {k: v for k, v in portable.items() if any(s in k for s in ("convolution", "linear", "addmm"))
                         and not any(_in_float(l, report["float_modules"]) for l in portable_layers[k])}
        if float_compute:
            raise ExportError(f"int8 conv/linear ops were not delegated to XNNPACK and would run in float on "
                              f"portable kernels: {float_compute} (layers {[portable_layers[k] for k in float_compute]})",
                              FORMAT, {k: portable_layers[k] for k in float_compute})

    # 3. serialise; every op left outside XNNPACK must have a kernel in the runtime.
    try:
        et = edge.to_executorch()
    except Exception as e:
        raise _named_failure(e, layers, "serialising to .pte") from e
    have = Runtime.get().operator_registry.operator_names
    missing = {}
    for plan in et.executorch_program.execution_plan:
        for op in plan.operators:
            full = f"{op.name}.{op.overload}" if op.overload else op.name
            if full not in have:
                base = op.name.split("::")[-1]
                missing[full] = sorted({l for k, ls in {**layers, **portable_layers}.items()
                                        if k.replace("::", ".").split(".")[1:2] == [base] for l in ls})
    if missing:
        raise ExportError("ops with no ExecuTorch kernel in this runtime (not delegated to XNNPACK either): "
                          + "; ".join(f"{k} from layer(s) {v or ['?']}" for k, v in missing.items()), FORMAT, missing)
    Path(path).write_bytes(et.buffer)

    n_del, n_port = sum(delegated.values()), sum(portable.values())
    if precision == "int8":
        report["int8_note"] = int8_note(delegated, report["quantized_ops"], report["float_modules"])
    report.update({
        "delegated_ops": dict(sorted(delegated.items())),
        "portable_ops": dict(sorted(portable.items())),
        "portable_op_layers": portable_layers,
        "delegate_partitions": sum(1 for n in edge_gm.graph.nodes
                                   if n.op == "call_function" and op_name(n.target) == "executorch_call_delegate"),
        "delegated_op_coverage": round(n_del / max(1, n_del + n_port), 4),
    })
    return report


# Written into every int8 .pte manifest (quantization.note), after the counts int8_note puts before it.
INT8_NOTE = ("on x86 without VNNI (AVX2 only) XNNPACK's int8 GEMMs and convolutions gain little over its fp32 FMA "
             "ones at these small channel counts, so the conversions at the edges of the float parts decide whether "
             "int8 is faster: the IMG2IMU edge classifier (3.8 per int8 op) runs 1.68-1.77x its fp32 .pte, the MAE "
             "classifier (9.4 per int8 op: a transformer whose layer norms and attention mixing stay float) 0.80x, "
             "and then int8 serves size (parity.size_ratio_to_fp32). An int8 dot product (AVX-VNNI, ARMv8.2 SDOT) "
             "speeds up the int8 ops only; not measured here. Measured: benchmarks/results/export_mae/ "
             "(export_bench --also, both models in one run) and benchmarks/results/export_bench.md")


def int8_note(delegated: Counter, quantized_ops: dict, float_modules) -> str:
    """The manifest's quantization.note: how many float <-> int8 activation conversions the int8 ops bring,
    and why that can make this int8 bundle no faster than its fp32 sibling."""
    q = delegated.get("quantized_decomposed.quantize_per_tensor.default", 0)
    dq = delegated.get("quantized_decomposed.dequantize_per_tensor.default", 0)
    n = sum(v for k, v in quantized_ops.items() if "(float)" not in k)
    return (f"{q} quantize and {dq} dequantize ops on activations surround this graph's {n} int8 conv/linear "
            f"ops ({(q + dq) / max(1, n):.1f} per int8 op; {len(float_modules)} modules stay float); " + INT8_NOTE)


def _in_float(layer: str, prefixes) -> bool:
    return any(layer == p or layer.startswith(p + ".") for p in prefixes)


def _named_failure(e: Exception, layers: dict[str, list[str]], stage: str) -> ExportError:
    return named_failure(FORMAT, e, layers, stage)
