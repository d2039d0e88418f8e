"""PT2E int8 quantization shared by the ExecuTorch and LiteRT paths.

Weights: int8 per-channel symmetric; activations: int8 static (calibrated
on real windows). The in-graph preprocessing (``ExportTarget.float_modules``:
the DFT conv1d, |X|, log, normalisation, bilinear matmuls) stays float32:
int8 on raw sensor values and on log-magnitudes of near-empty bins loses
exactly the small signals the log is there to keep. So do the first
conv block (it reads the spectrogram image) and the layer producing the
output (int8 logits step by range/256, flipping close top-1 calls):
on HAPT that lifted top-1 agreement with fp32 from 0.978-0.984 to
0.985-0.991 for a few KB and a few percent of latency.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import torch
from torch import fx

from .target import ExportTarget


def module_path(node: fx.Node) -> str:
    """The innermost module path a graph node came from ('' for the top level)."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    return path.replace("L['self'].", "").replace("L__self___", "")


def in_modules(node: fx.Node, prefixes: tuple[str, ...]) -> bool:
    for path, _ in (node.meta.get("nn_module_stack") or {}).values():
        p = path.replace("L['self'].", "")
        if any(p == x or p.startswith(x + ".") for x in prefixes):
            return True
    return False


def op_layers(graph_module: fx.GraphModule) -> dict[str, list[str]]:
    """{op name: [module paths it comes from]} for every call in a graph."""
    out: dict[str, list[str]] = {}
    for n in graph_module.graph.nodes:
        if n.op == "call_function":
            layers = out.setdefault(op_name(n.target), [])
            path = module_path(n) or "<top level>"
            if path not in layers:
                layers.append(path)
    return out


def op_name(target) -> str:
    name = getattr(target, "_name", None) or getattr(target, "__name__", None) or str(target)
    overload = getattr(target, "_overloadname", None)
    if overload and not name.endswith(overload):
        name = f"{name}.{overload}"
    return name.replace("::", ".")


def output_layer(graph_module: fx.GraphModule) -> str:
    """The module path of the op producing the graph's (first) output ('' if it is a top-level op)."""
    for n in graph_module.graph.nodes:
        if n.op == "output":
            out = n.args[0]
            while isinstance(out, (tuple, list)) and out:
                out = out[0]
            return module_path(out) if isinstance(out, fx.Node) else ""
    return ""


def input_layer(graph_module: fx.GraphModule, skip: tuple[str, ...]) -> str:
    """The block (parent module path) of the first conv/linear outside ``skip`` ('' if none), e.g.
    'encoder.backbone.stem.0' (conv + its BatchNorm) for the IMG2IMU backbones."""
    for n in graph_module.graph.nodes:
        if n.op == "call_function" and any(k in op_name(n.target) for k in ("conv", "linear")) \
                and not in_modules(n, skip):
            path = module_path(n)
            return path.rsplit(".", 1)[0] if "." in path else path
    return ""


def float_prefixes(target: ExportTarget, graph_module: fx.GraphModule) -> tuple[str, ...]:
    """Module paths int8 export keeps float: ``target.float_modules`` [+ first layer] [+ output layer]."""
    out = list(target.float_modules)
    extras = [input_layer(graph_module, tuple(out)) if target.float_input_layer else "",
              output_layer(graph_module) if target.float_output_layer else ""]
    out += [e for e in extras if e and e not in out]
    return tuple(out)


def skip_modules_quantizer(base, prefixes: tuple[str, ...]):
    """Wrap a PT2E quantizer so nodes inside ``prefixes`` modules stay float."""
    from torchao.quantization.pt2e.quantizer import Quantizer

    class SkipModules(Quantizer):
        def transform_for_annotation(self, model):
            return base.transform_for_annotation(model)

        def annotate(self, model):
            model = base.annotate(model)
            for n in model.graph.nodes:
                if prefixes and in_modules(n, prefixes):
                    n.meta.pop("quantization_annotation", None)
            drop_dangling_specs(model.graph)
            return model

        def validate(self, model):
            return base.validate(model)

    return SkipModules()


def drop_dangling_specs(graph: fx.Graph) -> list[str]:
    """Remove annotations that share or derive their quantization from a tensor that is no longer annotated.

    The XNNPACK quantizer lets shape ops (view, reshape, flatten) and adds share
    the range of their input: ``SharedQuantizationSpec(node or edge)``. Once the
    skipped modules' annotations are gone, such a spec on the far side of the
    float boundary points at nothing and ``prepare_pt2e`` fails with a bare
    ``KeyError: <node>``. Those nodes stay float too (repeated until no spec
    dangles, since dropping one can orphan the next). Returns their names.
    """
    from torchao.quantization.pt2e.quantizer import DerivedQuantizationSpec, SharedQuantizationSpec

    dropped: list[str] = []
    while True:
        defined = set()
        for n in graph.nodes:
            a = n.meta.get("quantization_annotation")
            if a is None:
                continue
            if a.output_qspec is not None:
                defined.add(n)
            defined.update((arg, n) for arg, spec in a.input_qspec_map.items() if spec is not None)

        def dangles(spec) -> bool:
            if isinstance(spec, SharedQuantizationSpec):
                return spec.edge_or_node not in defined
            if isinstance(spec, DerivedQuantizationSpec):
                return any(e not in defined for e in spec.derived_from)
            return False

        orphans = [n for n in graph.nodes if (a := n.meta.get("quantization_annotation")) is not None
                   and any(dangles(s) for s in (a.output_qspec, *a.input_qspec_map.values()))]
        if not orphans:
            return dropped
        for n in orphans:
            n.meta.pop("quantization_annotation")
            dropped.append(n.name)


def calibration_inputs(calibration) -> tuple[np.ndarray, ...]:
    """Calibration data as one array per graph input: windows (N, C, T) float32 for a one-input model,
    or a tuple of arrays (a generator's noise and class ids), each N long, in the target's input order."""
    if isinstance(calibration, tuple):
        return tuple(np.ascontiguousarray(x) for x in calibration)
    return (np.asarray(calibration, dtype=np.float32),)


def pt2e_quantize(target: ExportTarget, module: torch.nn.Module, quantizer, calibration: np.ndarray,
                  fold_quantize: bool = True) -> fx.GraphModule:
    """export -> prepare_pt2e -> calibrate on real windows (batch 1) -> convert_pt2e."""
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    if calibration is None or len(calibration) == 0:
        raise ValueError("int8 export needs calibration windows (--calibration hapt or an .npz with x)")
    gm = torch.export.export(module, target.example_inputs).module()
    gm = prepare_pt2e(gm, skip_modules_quantizer(quantizer, float_prefixes(target, gm)))
    b = target.example_inputs[0].shape[0]
    xs = calibration_inputs(calibration)
    with torch.no_grad():
        for i in range(0, len(xs[0]) - b + 1, b):
            gm(*(torch.as_tensor(x[i:i + b]) for x in xs))
    gm = convert_pt2e(gm, fold_quantize=fold_quantize)
    move_exported_model_to_eval(gm)
    return gm


def quantized_weight_ops(graph_module: fx.GraphModule) -> Counter:
    """Count conv/linear calls whose weight is dequantized from an int8 tensor (PT2E Q/DQ form)."""
    counts: Counter = Counter()
    for n in graph_module.graph.nodes:
        if n.op != "call_function" or len(n.args) < 2:
            continue
        name = op_name(n.target)
        if not any(k in name for k in ("conv", "linear")):
            continue
        w = n.args[1]
        if isinstance(w, fx.Node) and "dequantize_per_channel" in op_name(w.target) or \
                isinstance(w, fx.Node) and "dequantize_per_tensor" in op_name(w.target):
            counts[name] += 1
        else:
            counts[name + " (float)"] += 0
    return counts
