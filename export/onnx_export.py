"""ONNX (.onnx): torch.onnx.export (dynamo) -> [int8 static with onnxruntime] -> onnxruntime.

    fp32: torch.onnx.export(dynamo=True, optimize=True), input "window"
          (batch, C, T) with a DYNAMIC batch dimension, output "output".
    int8: onnxruntime.quantization.quantize_static on that graph in the form
          ``INT8_FORM``: QDQ, u8 per-tensor activations calibrated (99.999th
          percentile) over real windows, s8 per-channel symmetric weights in
          7 bits (reduce_range). Nodes of the float modules (preprocessing,
          layer norms, attention mixing, the output layer) are excluded
          (found by the exporter's ``pkg.torch.onnx.name_scopes`` metadata).

Why that form (``INT8_NOTE``, written into each int8 manifest): ONNX
Runtime's CPU provider on x86 without VNNI (this project's AVX2 CI hosts)
multiplies u8 activations by s8 weights with VPMADDUBSW, whose int16 pair
sums saturate on full-range weights: the MAE classifier's int8 graph agreed
with fp32 on 0.55 of windows although the same graph with ORT's fusions off
(the quantization itself) agreed on 0.994. Seven-bit weights cannot saturate.
s8 activations (the old default) are no way out: ORT runs them in the same
kernels, or not fused at all (float Conv after a DequantizeLinear of its
weights, every call: slower than fp32). ``benchmarks.onnx_int8_bench``
measures fp32 against every form side by side (QDQ vs QOperator, u8/s8,
reduce_range, first layer float or int8) with the parity gate.

(Named ``onnx_export`` so it does not shadow the ``onnx`` package.)
"""
from __future__ import annotations

import ast
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .quantize import calibration_inputs, float_prefixes, op_layers
from .target import ExportError, ExportTarget, mentioned_ops, named_failure

FORMAT = "onnx"
# Activation ranges for quantize_static: "minmax" | "percentile" (99.999th percentile of |activation| over
# the calibration windows, clipping rare outliers) | "entropy".
CALIBRATION_RANGES = "percentile"
_METHODS = {"minmax": "MinMax", "percentile": "Percentile", "entropy": "Entropy"}
INPUT, OUTPUT = "window", "output"
OPSET = 18
_QOPERATOR = {"QLinearConv": "Conv", "QLinearMatMul": "MatMul", "QGemm": "Gemm"}


def node_scope(node) -> str:
    """The module path an ONNX node came from ('' if unknown)."""
    for p in node.metadata_props:
        if p.key == "pkg.torch.onnx.name_scopes":
            try:
                scopes = ast.literal_eval(p.value)
            except (ValueError, SyntaxError):
                return ""
            mods = [s for s in scopes[:-1] if s]  # last entry is the op itself
            return mods[-1] if mods else ""
    return ""


def _in(scope: str, prefixes) -> bool:
    return any(scope == p or scope.startswith(p + ".") for p in prefixes)


class WindowReader:
    """onnxruntime CalibrationDataReader over real windows (or, for a several-input graph, a tuple of
    arrays named by ``names``), one batch-1 example at a time."""

    def __init__(self, x, names=(INPUT,)):
        self.xs, self.names = calibration_inputs(x), tuple(names)
        self.i = 0

    def get_next(self):
        if self.i >= len(self.xs[0]):
            return None
        self.i += 1
        return {name: x[self.i - 1:self.i] for name, x in zip(self.names, self.xs)}

    def rewind(self):
        self.i = 0


def inspect_onnx(path: str | Path) -> dict:
    import onnx

    model = onnx.load(str(path))
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producers = {o: n for n in g.node for o in n.output}
    ops = Counter(n.op_type for n in g.node)
    int8_ops: Counter = Counter()
    for n in g.node:
        if n.op_type in ("Conv", "Gemm", "MatMul", "ConvTranspose") and len(n.input) >= 2:
            w = producers.get(n.input[1])
            if w is not None and w.op_type == "DequantizeLinear" and w.input[0] in inits and \
                    inits[w.input[0]].data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8):
                int8_ops[n.op_type] += 1
        elif n.op_type in _QOPERATOR and len(n.input) > 3 and n.input[3] in inits and \
                inits[n.input[3]].data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8):
            int8_ops[_QOPERATOR[n.op_type]] += 1  # QOperator form: the integer op itself, weight at input 3
    return {"ops": dict(sorted(ops.items())), "int8_ops": dict(int8_ops), "opset": OPSET}


def _session_check(path: Path, layers: dict) -> None:
    """onnxruntime must load it (an op it lacks is named, with the node's layer)."""
    import onnx
    import onnxruntime as ort

    try:
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:
        msg = str(e)
        nodes = {f"onnx::{n.op_type}": [node_scope(n) or "<top level>"] for n in onnx.load(str(path)).graph.node
                 if n.op_type in msg}
        raise ExportError(f"{FORMAT}: onnxruntime cannot load the graph: {msg.strip().splitlines()[0][:400]}"
                          + (f" -- op(s) {nodes}" if nodes else ""), FORMAT, nodes) from e


def _onnx_export(module, args, dynamic_shapes, input_names=(INPUT,)):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.onnx.export(module, args, dynamo=True, input_names=list(input_names), output_names=[OUTPUT],
                                 dynamic_shapes=dynamic_shapes, opset_version=OPSET, optimize=True, verbose=False)


@dataclass(frozen=True)
class Int8Form:
    """How ``quantize_static`` writes the int8 graph; the default is the form chosen by measurement (module
    docstring). ``form``: "qdq" (QuantizeLinear/DequantizeLinear pairs that ORT fuses into integer kernels) or
    "qoperator" (QLinearConv, QLinearMatMul, ... written out); ``activations`` / ``weights``: "u8" or "s8";
    ``reduce_range``: 7-bit weights (x86 without VNNI: avoids the u8 x s8 multiply-add saturating)."""

    form: str = "qdq"
    activations: str = "s8"
    weights: str = "s8"
    per_channel: bool = True
    reduce_range: bool = False
    float_input_layer: bool = True  # and the target asks for it (``ExportTarget.float_input_layer``)

    @property
    def name(self) -> str:
        return (f"{self.form} {self.activations}{self.weights}" + (" per-channel" if self.per_channel else "")
                + (" reduce-range" if self.reduce_range else "") + ("" if self.float_input_layer else
                                                                    ", first layer int8"))


INT8_FORM = Int8Form("qdq", "u8", "s8", per_channel=True, reduce_range=True, float_input_layer=False)
INT8_NOTE = ("u8 activations x s8 per-channel weights in 7 bits (reduce_range): on x86 without VNNI (AVX2) ORT's "
             "u8 x s8 kernels (VPMADDUBSW) saturate int16 sums of full-range weights, which dropped the MAE "
             "classifier's top-1 agreement with fp32 to 0.55 (the same graph with ORT's fusions off: 0.994); s8 "
             "activations run in the same kernels or unfused (slower than fp32). QDQ rather than QOperator: the form "
             "ORT's mobile/ARM execution providers take; QOperator ran 1-8% faster on the CPU provider here. The "
             "first layer is int8 too (kept float, ORT runs the IMG2IMU stem's MaxPool as a slow u8 NCHW op). "
             "Speed vs the fp32 .onnx, 1 thread, 2-core AVX2 AMD EPYC, round-robin medians: IMG2IMU classifier "
             "1.17x, MAE classifier 1.05x (within noise: a 0.4 M-parameter transformer whose float layer norms and "
             "attention mixing put a Quantize/Dequantize pair around every int8 linear; its int8 .onnx serves size, "
             "31% of fp32). benchmarks/results/onnx_int8/onnx_int8_bench.md")


def float_nodes(target: ExportTarget, graph, fp32_graph, form: Int8Form = INT8_FORM) -> tuple[list[str], list[str]]:
    """(module paths, ONNX node names) that int8 export keeps float32."""
    floats = list(float_prefixes(replace(target, float_input_layer=target.float_input_layer and
                                         form.float_input_layer), graph))
    if target.float_output_layer:  # the op producing the output (a classifier's head) stays float
        head = next((node_scope(n) for n in fp32_graph.node if OUTPUT in n.output), "")
        if head and head not in floats:
            floats.append(head)
    exclude = [n.name for n in fp32_graph.node if _in(node_scope(n), floats) or
               (target.float_output_layer and OUTPUT in n.output)]
    return floats, exclude


def quantize(fp32: Path, path: Path, calibration: np.ndarray, exclude: list[str], form: Int8Form = INT8_FORM,
             input_names=(INPUT,)) -> None:
    """quantize_static of the fp32 graph at ``fp32`` into ``path`` in ``form``, ``exclude``d nodes float."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    types = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}
    quantize_static(str(fp32), str(path), WindowReader(calibration, input_names),
                    quant_format=QuantFormat.QDQ if form.form == "qdq" else QuantFormat.QOperator,
                    per_channel=form.per_channel, reduce_range=form.reduce_range,
                    weight_type=types[form.weights], activation_type=types[form.activations],
                    calibrate_method=getattr(CalibrationMethod, _METHODS[CALIBRATION_RANGES]),
                    nodes_to_exclude=exclude,
                    extra_options={"WeightSymmetric": True, "ActivationSymmetric": False,
                                   "CalibPercentile": 99.999, "CalibMovingAverage": False})


def strip_metadata(src: Path, dst: Path) -> None:
    """Save ``src`` to ``dst`` without the nodes' metadata (the exporter's module scopes, class hierarchy and
    stack traces with this machine's paths: ~30% of a small int8 graph's bytes, read only while exporting)."""
    import onnx

    model = onnx.load(str(src))
    for node in model.graph.node:
        del node.metadata_props[:]
    onnx.save(model, str(dst))


def export_fp32(target: ExportTarget, path: Path, layers: dict) -> int | None:
    """torch.onnx.export of the target to ``path`` (checked, loadable); the fixed batch size, or None if dynamic."""
    import onnx

    module = target.prepared_module()
    batch = torch.export.Dim("batch", min=1, max=4096)
    batch_size = None
    try:
        try:  # dynamic batch, traced at batch 2 (size-1 dims get specialised)
            prog = _onnx_export(module, tuple(torch.cat([x, x]) for x in target.example_inputs),
                                tuple({0: batch} for _ in target.example_inputs), target.input_names)
        except Exception as e:  # noqa: BLE001 - fall back to the fixed traced batch
            if mentioned_ops(str(e), layers):
                raise
            prog = _onnx_export(module, target.example_inputs, None, target.input_names)
            batch_size = int(target.example_inputs[0].shape[0])
        prog.save(str(path))
    except Exception as e:
        raise named_failure(FORMAT, e, layers, "torch.onnx.export") from e
    onnx.checker.check_model(str(path))
    _session_check(path, layers)
    return batch_size


def export_onnx(target: ExportTarget, precision: str, calibration: np.ndarray | None, path: str | Path,
                form: Int8Form = INT8_FORM) -> dict:
    import onnx

    path = Path(path)
    graph = torch.export.export(target.prepared_module(), target.example_inputs).graph_module
    layers = op_layers(graph)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        batch_size = export_fp32(target, fp32, layers)
        if precision == "fp32":
            strip_metadata(fp32, path)
        else:
            if calibration is None or len(calibration) == 0:
                raise ValueError("int8 export needs calibration windows")
            floats, exclude = float_nodes(target, graph, onnx.load(str(fp32)).graph, form)
            try:
                quantize(fp32, Path(tmp) / "int8.onnx", calibration, exclude, form, target.input_names)
            except Exception as e:
                raise named_failure(FORMAT, e, layers, "onnxruntime quantize_static") from e
            _session_check(Path(tmp) / "int8.onnx", layers)  # (an error names the node's layer from its metadata)
            strip_metadata(Path(tmp) / "int8.onnx", path)
    info = inspect_onnx(path)
    report = {"backend": "onnxruntime (CPUExecutionProvider)", "batch": batch_size, **info}
    if precision == "int8":
        if not info["int8_ops"]:
            path.unlink(missing_ok=True)
            raise ExportError(f"int8 was asked but the quantized graph has no int8-weight Conv/Gemm/MatMul "
                              f"(ops: {info['ops']}); refusing to ship a float model as int8", FORMAT)
        report["quantized_ops"] = info["int8_ops"]
        report["float_nodes_excluded"] = len(exclude)
        report["float_modules"] = floats
        report["activation_ranges"] = f"onnxruntime {_METHODS[CALIBRATION_RANGES]} calibration"
        report["int8_form"] = form.name
        if form == INT8_FORM:
            report["int8_note"] = INT8_NOTE
    return report
