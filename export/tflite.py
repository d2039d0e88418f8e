"""LiteRT (.tflite): the PyTorch module converted directly with litert-torch.

    fp32: litert_torch.convert(module, example) -> .tflite
    int8: that fp32 .tflite -> ai_edge_quantizer (the LiteRT stack's quantizer,
          installed with litert-torch) static int8: per-channel symmetric int8
          weights, int8 activations calibrated (min/max) on real windows,
          every op except those of the float preprocessing modules and the
          graph's INPUT/OUTPUT (the bundle keeps float32 in and out).

Why not litert-torch's PT2E path: with the preprocessing kept float,
``convert(..., quant_config=QuantConfig(pt2e_quantizer=...))`` gave wrong
outputs in litert-torch 0.10.0 (max abs error ~120 on logits of ~0.5: the
float->int8 boundary is mis-converted), and without ``quant_config`` the
Q/DQ pairs stay as float convs with DEQUANTIZE'd weights (fake int8). The
written file is checked either way: int8 is accepted only if conv /
fully-connected ops with int8 weights came out. Runs on ``ai_edge_litert``'s
Interpreter (its default XNNPACK delegate). Batch is fixed at 1.

Float modules are found in the .tflite by tensor names, which litert-torch
builds from the module hierarchy (``..._encoder/..._spectrogram;N``).
"""
from __future__ import annotations

import contextlib
import io
import logging
import re
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from .quantize import calibration_inputs, float_prefixes, op_layers
from .target import ExportError, ExportTarget, named_failure

FORMAT = "tflite"
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "CONV_3D", "TRANSPOSE_CONV", "BATCH_MATMUL")


@contextlib.contextmanager
def _quiet():
    """litert-torch prints a progress tree on stdout; keep the CLI's output ours."""
    logging.getLogger("litert_torch").setLevel(logging.WARNING)
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def inspect_tflite(path: str | Path) -> dict:
    """Op histogram and which weighted ops run int8, from the file (no delegate applied)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    ops: Counter = Counter()
    int8_ops: Counter = Counter()
    float_weighted: Counter = Counter()
    for d in it._get_ops_details():
        ops[d["op_name"]] += 1
        if d["op_name"] in WEIGHTED_OPS:
            dtypes = [tensors[i]["dtype"] for i in d["inputs"] if i >= 0 and i in tensors]
            if len(dtypes) >= 2 and dtypes[0] == np.int8 and dtypes[1] == np.int8:
                int8_ops[d["op_name"]] += 1
            else:
                float_weighted[d["op_name"]] += 1
    return {"ops": dict(sorted(ops.items())), "int8_ops": dict(int8_ops), "float_weighted_ops": dict(float_weighted)}


def xnnpack_partitions(path: str | Path) -> int:
    """How many XNNPACK delegate nodes the Interpreter (as bundles load it) makes of the graph: 1 = all of it
    in one; more = ops the delegate does not take run on LiteRT's builtin kernels between the partitions."""
    from ai_edge_litert.interpreter import Interpreter

    with contextlib.redirect_stderr(io.StringIO()):
        it = Interpreter(model_path=str(path), num_threads=1)
        it.allocate_tensors()
    return sum(d["op_name"] == "DELEGATE" for d in it._get_ops_details())


def int8_note(partitions: int, fp32_partitions: int) -> str:
    """The manifest's quantization.note: why this int8 bundle may be no faster than its fp32 sibling."""
    split = (f"XNNPACK takes this int8 graph in {partitions} partitions (the fp32 one in {fp32_partitions}): the int8 "
             f"ops it does not take run on LiteRT's builtin kernels between them, so int8 runs slower than fp32. "
             if partitions > fp32_partitions else "")
    return split + "Otherwise: " + INT8_NOTE if split else INT8_NOTE


def float_module_regex(paths, names=()) -> str:
    """Regex matching op output names NOT inside any of ``paths`` (module paths like 'encoder.spectrogram')
    and not equal to any of ``names`` (tensor names, e.g. the graph's output)."""
    frags = ["_" + "/[^/;]*_".join(re.escape(p) for p in path.split(".")) + r"(?:[/;]|$)" for path in paths]
    frags += ["^" + re.escape(n) + ";" for n in names]  # an op scope is its output names + ";"
    return "^(?!.*(?:" + "|".join(frags) + ")).*" if frags else ".*"


# How calibration merges per-window activation ranges. ai_edge_quantizer's default is an exponential
# moving average (factor 0.95) over the windows in the order given -- with batch-1 windows that is the range
# of roughly the last 20 windows (measured on HAPT: 0.977 top-1 agreement). "minmax" keeps the range over
# all windows; "ema" averages per-window ranges over the windows in a seeded random order.
CALIBRATION_RANGES = "minmax"

# Written into every int8 .tflite manifest (quantization.note): why this bundle may be no faster than fp32.
INT8_NOTE = ("on x86 without VNNI (AVX2 only) XNNPACK's int8 convolutions run about 0.8-1.6x its fp32 FMA ones "
             "(measured at the IMG2IMU edge backbone's shapes; its 16-channel layers lose), while the float parts "
             "(in-graph preprocessing, the layers kept float) and the quantize/dequantize at their edges stay as "
             "they are, so an int8 bundle runs about as fast as fp32 there and serves size "
             "(parity.size_ratio_to_fp32); for that backbone LiteRT's builtin kernels run int8 1.4x faster than "
             "fp32, but slower than XNNPACK fp32. XNNPACK's int8 kernels need an int8 dot product (AVX-VNNI, "
             "ARMv8.2 SDOT) to gain more; not measured here. Measured: benchmarks/results/tflite_int8/")


def quantize_tflite(fp32_path: Path, out_path: Path, calibration: np.ndarray, float_modules,
                    ranges: str | None = None, float_output: bool = True) -> None:
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import calibrator, qtyping, quantizer
    from ai_edge_quantizer.utils import qsv_utils

    ranges = ranges or CALIBRATION_RANGES
    it = Interpreter(model_path=str(fp32_path))
    sigs = it.get_signature_list()
    sig = next(iter(sigs))
    names = sigs[sig]["inputs"]  # args_0, args_1, ...: the graph's inputs in order
    dtypes = {name: d["dtype"] for name, d in it.get_signature_runner(sig).get_input_details().items()}
    qt = quantizer.Quantizer(str(fp32_path))
    outputs = [d["name"] for d in it.get_output_details()] if float_output else []
    rx = float_module_regex(float_modules, outputs)
    for op in qtyping.TFLOperationName:
        if op.name in ("ALL_SUPPORTED", "INPUT", "OUTPUT"):
            continue
        try:
            qt.add_static_config(regex=rx, operation_name=op, activation_num_bits=8, weight_num_bits=8)
        except Exception:  # noqa: BLE001 - ops the quantizer has no static int8 policy for stay float
            continue
    xs = calibration_inputs(calibration)
    order = np.random.default_rng(0).permutation(len(xs[0]))
    data = {sig: [{name: x[i:i + 1].astype(dtypes.get(name, x.dtype)) for name, x in zip(names, xs)}
                  for i in order]}
    with _quiet(), contextlib.redirect_stderr(io.StringIO()):
        if ranges == "minmax":
            calib = calibrator.Calibrator(fp32_path.read_bytes(), num_threads=1,
                                          qsv_update_func=qsv_utils.min_max_update)
            calib.calibrate(data, qt._recipe_manager)
            result = calib.get_model_qsvs()
        else:
            result = qt.calibrate(data, num_threads=1)
        qt.quantize(result).export_model(str(out_path), overwrite=True)


def export_tflite(target: ExportTarget, precision: str, calibration: np.ndarray | None, path: str | Path) -> dict:
    import litert_torch

    module = target.prepared_module()
    graph = torch.export.export(module, target.example_inputs).graph_module
    layers = op_layers(graph)
    floats = [p for p in float_prefixes(target, graph)]
    path = Path(path)
    fp32_path = path.with_name(path.stem + ".fp32.tflite") if precision == "int8" else path
    try:
        with _quiet():
            edge_model = litert_torch.convert(module, target.example_inputs)
            edge_model.export(str(fp32_path))
    except Exception as e:
        raise named_failure(FORMAT, e, layers, "converting with litert-torch") from e
    if precision == "int8":
        if calibration is None or len(calibration) == 0:
            raise ValueError("int8 export needs calibration windows")
        try:
            quantize_tflite(fp32_path, path, calibration, floats,
                            float_output=target.float_output_layer)
            fp32_partitions = xnnpack_partitions(fp32_path)
        except Exception as e:
            raise named_failure(FORMAT, e, layers, "int8 quantization with ai_edge_quantizer") from e
        finally:
            fp32_path.unlink(missing_ok=True)

    info = inspect_tflite(path)
    report = {"backend": "LiteRT (XNNPACK delegate)", "batch": int(target.example_inputs[0].shape[0]), **info,
              "xnnpack_partitions": xnnpack_partitions(path)}
    if precision == "int8":
        if not info["int8_ops"]:
            Path(path).unlink(missing_ok=True)
            raise ExportError(f"int8 was asked but the converted .tflite has no int8 conv/fully-connected op "
                              f"(ops: {info['ops']}); refusing to ship a float model as int8", FORMAT)
        report["quantized_ops"] = info["int8_ops"]
        report["float_modules"] = floats  # the output layer (head) is matched by its output tensor name
        report["activation_ranges"] = {"minmax": "min/max over all calibration windows",
                                       "ema": "moving average (0.95) of per-window min/max"}[CALIBRATION_RANGES]
        report["int8_note"] = int8_note(report["xnnpack_partitions"], fp32_partitions)
    return report
