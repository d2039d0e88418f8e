"""Export one ``ExportTarget`` to every requested format x precision, each as a checked bundle.

For each combination, in a straight line:

    export (quantize -> lower -> save) -> manifest -> load_bundle -> parity vs PyTorch -> manifest

A combination that fails (an op a backend cannot lower, int8 that did not
come out int8, parity outside tolerance) is reported by name and its folder
removed; the others still succeed. ``OUT/export_summary.json`` lists all.
"""
from __future__ import annotations

import importlib.metadata
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imuedge.atomic import atomic_write
from imuedge.command_line import command_line
from imuedge.quiet import quiet_runtime

from imuedge.bundle import (ARTIFACTS, load_bundle, make_fingerprint, make_manifest, mark_pte_checked,
                     write_manifest)
from imuedge.digest import sha256
from .parity import parity_report
from .target import ExportError, ExportTarget

FORMATS = ("pte", "tflite", "onnx")  # what "all" means; "torch" (reference .pt2) on request
PRECISIONS = ("fp32", "int8")
PACKAGES = ("torch", "executorch", "torchao", "litert-torch", "ai-edge-litert", "onnx", "onnxruntime",
            "onnxscript", "numpy")


@dataclass
class Limits:
    """What a bundle must meet to be written, checked on the parity windows (imuedge export takes most as flags)."""

    fp32_max_abs: float = 1e-4  # fp32 bundles: max |bundle - PyTorch| over all outputs (absolute, logits ~16)
    int8_min_agreement: float = 0.98  # int8 classifiers: top-1 agreement with PyTorch fp32
    int8_max_f1_drop: float = 0.02  # int8 classifiers with labels: macro-F1(fp32) - macro-F1(int8)
    int8_max_size_ratio: float = 0.35  # int8 artifact bytes / fp32 artifact bytes (same format, same call),
    int8_size_check_min_bytes: int = 1 << 20  # ... checked when the fp32 artifact is at least this big (in a
    # tiny model the fixed cost -- flatbuffer/graph, float spectrogram constants -- dominates either way)
    int8_min_cosine: float = 0.95  # int8 embedders: mean cosine similarity with PyTorch fp32


def package_versions() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    try:
        from imuedge.checkpoint import code_version
        out["imuedge"] = code_version()
    except Exception:  # pragma: no cover
        from imuedge import __version__
        out["imuedge"] = __version__
    return out


def _exporter(fmt: str):
    if fmt == "pte":
        from .pte import export_pte
        return export_pte
    if fmt == "tflite":
        from .tflite import export_tflite
        return export_tflite
    if fmt == "onnx":
        from .onnx_export import export_onnx
        return export_onnx
    if fmt == "torch":
        return export_torch
    raise ValueError(f"unknown format {fmt!r}; known: {FORMATS + ('torch',)}")


def export_torch(target: ExportTarget, precision: str, calibration, path) -> dict:
    """PyTorch reference bundle: the ``torch.export`` program (.pt2), fp32, any batch."""
    import torch

    if precision != "fp32":
        raise ExportError("the torch format is the fp32 reference only; int8 is not offered", "torch")
    module = target.prepared_module()
    example = target.example_inputs[0]
    try:  # dynamic batch; traced at batch 2 (torch specialises size-1 dims)
        ep = torch.export.export(module, (torch.cat([example, example]),),
                                 dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},))
        batch = None
    except Exception:  # noqa: BLE001 - a model that cannot take a dynamic batch: fixed like pte/tflite
        ep = torch.export.export(module, target.example_inputs)
        batch = int(example.shape[0])
    torch.export.save(ep, str(path))
    return {"backend": "PyTorch (torch.export program)", "batch": batch}


def _check_limits(parity: dict, task: str, precision: str, limits: Limits) -> str | None:
    n = parity["windows"]
    if precision == "fp32" and parity["max_abs_error"] > limits.fp32_max_abs:
        return (f"fp32 parity failed: max abs error {parity['max_abs_error']:.3g} > {limits.fp32_max_abs:g} "
                f"(max |output| {parity['reference_abs_max']:.3g}) on {n} windows")
    if precision == "int8" and task == "classify":
        if parity["top1_agreement"] < limits.int8_min_agreement:
            return (f"int8 parity failed: top-1 agreement with fp32 {parity['top1_agreement']:.4f} < "
                    f"{limits.int8_min_agreement:g} on {n} windows")
        if "macro_f1_int8" in parity and parity["macro_f1_fp32"] - parity["macro_f1_int8"] > limits.int8_max_f1_drop:
            return (f"int8 parity failed: macro-F1 {parity['macro_f1_int8']:.4f} vs fp32 {parity['macro_f1_fp32']:.4f} "
                    f"drops by more than {limits.int8_max_f1_drop:g} on {n} windows")
    if precision == "int8" and task == "embed" and parity["cosine_mean"] < limits.int8_min_cosine:
        return f"int8 parity failed: mean cosine {parity['cosine_mean']:.4f} < {limits.int8_min_cosine:g}"
    if precision == "int8" and parity.get("size_ratio_to_fp32") is not None and \
            parity.get("fp32_bytes", 0) >= limits.int8_size_check_min_bytes and \
            parity["size_ratio_to_fp32"] > limits.int8_max_size_ratio:
        return (f"int8 artifact is {parity['size_ratio_to_fp32']:.3f} of the fp32 one's size "
                f"(limit {limits.int8_max_size_ratio:g})")
    return None


def export_bundles(target: ExportTarget, out: str | Path, formats=FORMATS, precisions=PRECISIONS, *,
                   calibration: np.ndarray | None = None, eval_x: np.ndarray | None = None,
                   eval_y: np.ndarray | None = None, data: dict | None = None, seed: int | None = None,
                   limits: Limits | None = None, threads: int = 1, log=print) -> dict:
    """Export ``target`` to ``OUT/{format}-{precision}/`` bundles; return (and write) the summary.

    calibration: (N, C, T) real windows for int8 (PT2E observers / ORT MinMax).
    eval_x, eval_y: the parity windows (>= 256 recommended) and optional labels.
    data: a JSON-able description of where calibration/eval windows came from.
    """
    limits = limits or Limits()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if eval_x is None:
        raise ValueError("parity needs real windows (eval_x)")
    eval_x = np.asarray(eval_x, dtype=np.float32)
    if tuple(eval_x.shape[1:]) != target.input_shape:
        raise ValueError(f"parity windows have shape {eval_x.shape[1:]}, the model takes {target.input_shape}")
    if calibration is not None:
        calibration = np.asarray(calibration, dtype=np.float32)
        if tuple(calibration.shape[1:]) != target.input_shape:
            raise ValueError(f"calibration windows have shape {calibration.shape[1:]}, "
                             f"the model takes {target.input_shape}")
    reference = target.reference(eval_x).numpy()
    provenance = {**target.provenance, "data": data or {}, "seed": seed, "command": command_line(),
                  "packages": package_versions()}
    summary: dict = {"out": str(out), "results": {}}
    fp32_sizes: dict[str, int] = {}  # format -> fp32 artifact bytes (int8 size ratio; fp32 runs first)
    for fmt in formats:
        for precision in sorted(precisions, key=lambda p: p != "fp32"):
            key = f"{fmt}-{precision}"
            folder = out / key
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            artifact = folder / ARTIFACTS[fmt]
            t0 = time.perf_counter()
            try:
                with quiet_runtime():
                    backend = _exporter(fmt)(target, precision, calibration, artifact)
                if fmt == "pte":  # lowered by ExecuTorch here: no need for a trial load in a child process
                    mark_pte_checked(sha256(artifact))
                quant = None
                if precision == "int8":
                    quant = {"scheme": "int8 static: per-channel symmetric weights, per-tensor activations",
                             "calibration_windows": int(len(calibration)),
                             "float_modules": backend.pop("float_modules", list(target.float_modules)),
                             "activation_ranges": backend.pop("activation_ranges", None),
                             "quantized_ops": backend.pop("quantized_ops", {})}
                    if "int8_form" in backend:  # .onnx: how quantize_static wrote the graph
                        quant["form"] = backend.pop("int8_form")
                    if "int8_note" in backend:  # why that form, or why it is not faster than fp32
                        quant["note"] = backend.pop("int8_note")
                manifest = make_manifest(fmt=fmt, precision=precision, task=target.task,
                                         window=target.window.to_dict(), output=dict(target.output),
                                         artifact=artifact, batch=backend.get("batch"), quantization=quant,
                                         backend=backend, provenance=provenance)
                write_manifest(folder, manifest)
                predictor = load_bundle(folder, threads=threads)
                parity = parity_report(predictor, reference, eval_x, eval_y, target.task, precision)
                fp32_bytes = fp32_sizes.get(fmt)
                if precision == "int8":
                    parity["size_ratio_to_fp32"] = (round(manifest["artifact"]["bytes"] / fp32_bytes, 4)
                                                    if fp32_bytes else None)
                    parity["fp32_bytes"] = fp32_bytes
                    if "macro_f1_int8" in parity:
                        parity["macro_f1_drop"] = round(parity["macro_f1_fp32"] - parity["macro_f1_int8"], 5)
                problem = _check_limits(parity, target.task, precision, limits)
                if problem:
                    raise ExportError(problem, fmt)
                manifest["parity"] = {**parity, "limits": vars(limits)}
                manifest["fingerprint"] = make_fingerprint(predictor, eval_x)
                if precision == "fp32":
                    fp32_sizes[fmt] = manifest["artifact"]["bytes"]
                write_manifest(folder, manifest)
                seconds = time.perf_counter() - t0
                summary["results"][key] = {"status": "ok", "bundle": str(folder), "seconds": round(seconds, 2),
                                           "bytes": manifest["artifact"]["bytes"], "parity": parity,
                                           "coverage": backend.get("delegated_op_coverage")}
                log(f"[export] {key}: ok ({manifest['artifact']['bytes']} bytes, {seconds:.1f} s) "
                    + _parity_line(parity))
            except Exception as e:  # noqa: BLE001 - one format's failure must not stop the others
                shutil.rmtree(folder, ignore_errors=True)
                ops = getattr(e, "ops", {}) if isinstance(e, ExportError) else {}
                summary["results"][key] = {"status": "refused", "error": f"{type(e).__name__}: {e}", "ops": ops}
                log(f"[export] {key}: REFUSED -- {type(e).__name__}: {e}")
    summary["ok"] = all(r["status"] == "ok" for r in summary["results"].values())
    write_summary(out / "export_summary.json", summary)
    return summary


def write_summary(path: Path, summary: dict) -> None:
    """``export_summary.json``: this call's results, plus those of earlier exports into the same folder
    whose bundles this call did not replace (a second `imuedge export` adds to the summary)."""
    try:
        earlier = json.loads(path.read_text()).get("results", {})
    except (OSError, ValueError, AttributeError):
        earlier = {}
    kept = {k: r for k, r in earlier.items() if k not in summary["results"] and isinstance(r, dict)
            and (r.get("status") != "ok" or (path.parent / k / "imuedge.json").is_file())}
    merged = {**summary, "results": {**kept, **summary["results"]}}
    merged["ok"] = all(r.get("status") == "ok" for r in merged["results"].values())
    atomic_write(path, lambda f: f.write(json.dumps(merged, indent=2, default=str) + "\n"))


def _parity_line(p: dict) -> str:
    parts = [f"max|err| {p['max_abs_error']:.2e}"]
    if "top1_agreement" in p:
        parts.append(f"top-1 agreement {p['top1_agreement']:.4f}")
    for k, v in p.items():
        if k.startswith("macro_f1_"):
            parts.append(f"{k} {v:.3f}")
    if "cosine_mean" in p:
        parts.append(f"cosine {p['cosine_mean']:.4f}")
    return ", ".join(parts)
