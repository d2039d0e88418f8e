"""ONNX (.onnx): torch.onnx.export (dynamo) -> [int8 static QDQ with onnxruntime] -> onnxruntime.

    fp32: torch.onnx.export(dynamo=True, optimize=True), input "window"
          (batch, C, T) with a DYNAMIC batch dimension, output "output".
    int8: onnxruntime.quantization.quantize_static on that graph: QDQ format,
          int8 per-channel symmetric weights, int8 static activations
          calibrated (MinMax) by a CalibrationDataReader over real windows.
          Nodes of the float preprocessing modules are excluded (found by the
          exporter's ``pkg.torch.onnx.name_scopes`` metadata).

(Named ``onnx_export`` so it does not shadow the ``onnx`` package.)
"""
from __future__ import annotations

import ast
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from .quantize import float_prefixes, op_layers
from .target import ExportError, ExportTarget, mentioned_ops, named_failure

FORMAT = "onnx"
# Activation ranges for quantize_static: "minmax" | "percentile" (99.999th percentile of |activation| over
# the calibration windows, clipping rare outliers) | "entropy".
CALIBRATION_RANGES = "percentile"
_METHODS = {"minmax": "MinMax", "percentile": "Percentile", "entropy": "Entropy"}
INPUT, OUTPUT = "window", "output"
OPSET = 18


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
    """onnxruntime CalibrationDataReader over real windows, one batch-1 window at a time."""

    def __init__(self, x: np.ndarray):
        self.x = np.asarray(x, dtype=np.float32)
        self.i = 0

    def get_next(self):
        if self.i >= len(self.x):
            return None
        self.i += 1
        return {INPUT: self.x[self.i - 1:self.i]}

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


def export_onnx(target: ExportTarget, precision: str, calibration: np.ndarray | None, path: str | Path) -> dict:
    import onnx

    path = Path(path)
    module = target.prepared_module()
    graph = torch.export.export(module, target.example_inputs).graph_module
    layers = op_layers(graph)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        example = target.example_inputs[0]
        batch_size = None
        try:
            try:  # dynamic batch, traced at batch 2 (size-1 dims get specialised)
                prog = _onnx_export(module, tuple(torch.cat([x, x]) for x in target.example_inputs),
                                    tuple({0: batch} for _ in target.example_inputs), target.input_names)
            except Exception as e:  # noqa: BLE001 - fall back to the fixed traced batch
                if mentioned_ops(str(e), layers):
                    raise
                prog = _onnx_export(module, target.example_inputs, None, target.input_names)
                batch_size = int(example.shape[0])
            prog.save(str(fp32))
        except Exception as e:
            raise named_failure(FORMAT, e, layers, "torch.onnx.export") from e
        onnx.checker.check_model(str(fp32))
        _session_check(fp32, layers)
        if precision == "fp32":
            path.write_bytes(fp32.read_bytes())
        else:
            if calibration is None or len(calibration) == 0:
                raise ValueError("int8 export needs calibration windows")
            from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

            g = onnx.load(str(fp32)).graph
            floats = list(float_prefixes(target, graph))
            if target.float_output_layer:  # the op producing the output (a classifier's head) stays float
                head = next((node_scope(n) for n in g.node if OUTPUT in n.output), "")
                if head and head not in floats:
                    floats.append(head)
            exclude = [n.name for n in g.node if _in(node_scope(n), floats) or
                       (target.float_output_layer and OUTPUT in n.output)]
            try:
                quantize_static(str(fp32), str(path), WindowReader(calibration), quant_format=QuantFormat.QDQ,
                                per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QInt8,
                                calibrate_method=getattr(CalibrationMethod, _METHODS[CALIBRATION_RANGES]),
                                nodes_to_exclude=exclude,
                                extra_options={"WeightSymmetric": True, "ActivationSymmetric": False,
                                               "CalibPercentile": 99.999, "CalibMovingAverage": False})
            except Exception as e:
                raise named_failure(FORMAT, e, layers, "onnxruntime quantize_static") from e
            _session_check(path, layers)
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
    return report
