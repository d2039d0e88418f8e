"""Export a generator (its unrolled sampling loop, decoder included) as generator bundles, with parity.

    imuedge diffusion export --student runs/student/student_4.pt --out runs/student-bundles
    imuedge diffusion export --student runs/ldm/latent.pt --steps 10 --guidance 1.5 --out runs/ldm-bundles
    imuedge diffusion export --student runs/student/student_1.pt --out b/ --precisions fp32,int8

The source is a distilled student of the STFT-domain model, a latent diffusion model
or a VQ diffusion model (``distill.load_sampler``: the latter two sample with DDIM at
``--steps`` and classifier-free guidance in the graph; the VQ one as its LF -> HF cascade).

Each format runs through the project exporter (``export/``: ``export_pte``,
``export_tflite``, ``export_onnx`` with a two-input ``ExportTarget``), then the
written bundle is loaded with ``load_bundle`` and run on fixed noise (seed 0, two
draws per class).

* fp32: its windows must match the PyTorch student within ``MAX_ABS`` (1e-4 m/s^2 or
  rad/s), else the bundle is removed and the format reported as refused.
* int8: the exporter's static int8 (per-channel int8 weights, int8 activations), its
  activation ranges calibrated on the generator's own inputs (standard-normal noise,
  seed 1, ``CALIBRATION_PER_CLASS`` draws per class). Its windows cannot match fp32 to
  1e-4; the max error is reported, and its quality is measured as TSTR: the 1D CNN
  baseline trained on ``tstr_per_class`` int8 windows per class (noise seed 2) and
  scored (macro-F1) on the real HAPT test subjects, beside the same for the PyTorch
  fp32 student on the same noise. A bundle whose TSTR drops by more than
  ``MAX_TSTR_DROP`` is removed and reported as refused, with its numbers.
"""
from __future__ import annotations

import functools
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from imuedge.atomic import atomic_write
from imuedge.digest import sha256

MAX_ABS = 1e-4
FORMATS = ("onnx", "tflite", "pte")
PRECISIONS = ("fp32", "int8")
CALIBRATION_PER_CLASS = 8
MAX_TSTR_DROP = 0.03
# The class id is int64 in the graph; litert-torch writes 64-bit model inputs as 32-bit (enable_x64=False, the
# "downcasts 64-bit model I/O" warning it logs), so a .tflite takes int32 class ids.
CLASS_ID_DTYPE = {"tflite": "int32"}


def student_target(sampler, ckpt: dict, path):
    from imuedge.export.target import ExportTarget
    from imuedge.window import WindowSpec

    window = WindowSpec.from_dict(ckpt["window"])
    names = [ckpt["label_names"][str(i)] for i in range(len(ckpt["label_names"]))]
    example = (torch.zeros(1, *sampler.noise_shape), torch.zeros(1, dtype=torch.int64))
    return ExportTarget(sampler, "generate", window, {"class_names": names}, example_inputs=example,
                        input_names=("noise", "class_id"), float_modules=float_modules(sampler),
                        float_input_layer=False, float_output_layer=False,
                        provenance={"checkpoint": str(path), "checkpoint_sha256": sha256(path),
                                    "checkpoint_provenance": ckpt.get("provenance", {})})


def float_modules(sampler) -> tuple[str, ...]:
    """What int8 keeps float32, like a classifier's spectrogram, stem and head: the decoder (inverse STFT or the
    (VQ-)VAE's decoder, de-normalisation) and each denoiser's first layer (it reads the noise: the UNet's stem,
    the transformer's ``inp``) and last (``out``: it writes v); the VQ cascade has two denoisers."""
    return tuple(n for n, _ in sampler.named_modules()
                 if n == "decoder" or re.fullmatch(r"(\w+\.)?denoiser\.(stem|inp|out)", n))


def generator_manifest(fmt: str, artifact: Path, target, sampler, info: dict, batch, precision: str = "fp32") -> dict:
    from imuedge.manifest import SCHEMA, SCHEMA_VERSION

    w = target.window.to_dict()
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "task": "generate", "format": fmt, "precision": precision,
        "artifact": {"file": artifact.name, "sha256": sha256(artifact), "bytes": artifact.stat().st_size},
        "input": {"batch": batch,
                  "noise": {"dtype": "float32", "shape": [batch, *sampler.noise_shape],
                            "layout": info["noise_layout"], "distribution": "standard normal"},
                  "class_id": {"dtype": CLASS_ID_DTYPE.get(fmt, "int64"), "shape": [batch],
                               "range": [0, sampler.num_classes - 1]}},
        "output": {"kind": "window", "class_names": target.output["class_names"], **w},
        "sampler": {k: v for k, v in info.items() if k != "noise_layout"},
        "quantization": None, "backend": {}, "parity": {},
        "provenance": {**target.provenance, "command": _command()},
    }


def _command() -> str:
    from imuedge.command_line import command_line
    return command_line()


@functools.lru_cache(maxsize=1)
def hapt_test_windows():
    from imuedge.data import load_hapt_windows

    return load_hapt_windows(window=128, hop=64, seed=0)["test"]


def tstr_macro_f1(windows: np.ndarray, classes: np.ndarray, k: int) -> float:
    """TSTR: the 1D CNN baseline trained on synthetic ``windows``, macro-F1 on the real HAPT test subjects."""
    from imuedge.train.diffusion.evaluate import cnn_f1

    test = hapt_test_windows()
    return float(cnn_f1(windows, classes, test.x, test.y, k, seed=0))


def export_student(student_path, out, formats=FORMATS, threads: int = 1, log=print, steps: int | None = None,
                   guidance: float | None = None, precisions=("fp32",), tstr_per_class: int = 50) -> dict:
    """Write OUT/{format}-{precision}/ generator bundles of a generator checkpoint (a student, or a latent
    diffusion model sampled with ``steps`` and ``guidance``); return (and write) the summary."""
    from imuedge.train.diffusion.distill import load_sampler

    sampler, ckpt, info = load_sampler(student_path, steps, guidance)
    target = student_target(sampler, ckpt, student_path)
    k = sampler.num_classes
    plane = sampler.noise_shape
    noise = np.random.default_rng(0).standard_normal((2 * k, *plane)).astype(np.float32)
    classes = np.repeat(np.arange(k), 2).astype(np.int64)
    with torch.no_grad():
        reference = sampler(torch.from_numpy(noise), torch.from_numpy(classes)).numpy()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"student": str(student_path), "steps": sampler.steps, "results": {}}
    quality = None
    if "int8" in precisions:  # the fp32 reference of the int8 quality check, on the same noise
        cal = (np.random.default_rng(1).standard_normal((CALIBRATION_PER_CLASS * k, *plane)).astype(np.float32),
               np.tile(np.arange(k), CALIBRATION_PER_CLASS).astype(np.int64))
        q_noise = np.random.default_rng(2).standard_normal((tstr_per_class * k, *plane)).astype(np.float32)
        q_classes = np.repeat(np.arange(k), tstr_per_class).astype(np.int64)
        with torch.no_grad():
            q_ref = sampler(torch.from_numpy(q_noise), torch.from_numpy(q_classes)).numpy()
        quality = {"windows_per_class": tstr_per_class, "noise": "numpy default_rng(2) standard normal",
                   "classifier": "1D CNN baseline (train/backbones.CNN1D), 10 epochs, seed 0",
                   "test": "real HAPT test subjects (split seed 0), 128-sample windows, hop 64",
                   "TSTR_macro_f1_fp32_pytorch": tstr_macro_f1(q_ref, q_classes, k), "max_drop": MAX_TSTR_DROP}
        summary["int8_quality_reference"] = quality
        log(f"[diffusion export] TSTR macro-F1 of the PyTorch fp32 student: "
            f"{quality['TSTR_macro_f1_fp32_pytorch']:.3f} ({tstr_per_class} windows per class)")
    for fmt in formats:
        for precision in precisions:
            key = f"{fmt}-{precision}"
            summary["results"][key] = _export_one(fmt, precision, out / key, target, sampler, info, noise, classes,
                                                  reference, threads, log,
                                                  cal if precision == "int8" else None,
                                                  (q_noise, q_classes, quality) if precision == "int8" else None)
    summary["ok"] = all(r["status"] == "ok" for r in summary["results"].values())
    atomic_write(out / "export_summary.json", lambda f: f.write(json.dumps(summary, indent=2, default=str) + "\n"))
    return summary


def _export_one(fmt, precision, folder: Path, target, sampler, info, noise, classes, reference, threads, log,
                calibration=None, check=None) -> dict:
    """One bundle: export, manifest, load, parity (fp32: <= MAX_ABS; int8: TSTR within MAX_TSTR_DROP)."""
    from imuedge.bundle import ARTIFACTS, load_bundle, mark_pte_checked, write_manifest
    from imuedge.export.make_bundles import _exporter
    from imuedge.manifest import binding
    from imuedge.quiet import quiet_runtime

    key = folder.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    row: dict = {}
    try:
        artifact = folder / ARTIFACTS[fmt]
        with quiet_runtime():
            backend = _exporter(fmt)(target, precision, calibration, artifact)
        if fmt == "pte":
            mark_pte_checked(sha256(artifact))
        manifest = generator_manifest(fmt, artifact, target, sampler, info, backend.get("batch"), precision)
        manifest["backend"] = {k_: v for k_, v in backend.items() if k_ in ("backend", "batch", "ops",
                                                                             "delegated_op_coverage")}
        if precision == "int8":
            manifest["quantization"] = {
                "scheme": "int8 static: per-channel symmetric weights, per-tensor activations",
                "calibration": f"{len(calibration[0])} standard-normal noise tensors (numpy default_rng(1)), "
                               f"{CALIBRATION_PER_CLASS} per class",
                **{k_: v for k_, v in backend.items() if k_ in ("quantized_ops", "activation_ranges", "int8_form")}}
        manifest["fingerprint"] = {"binding_sha256": binding(manifest)}
        write_manifest(folder, manifest)
        bundle = load_bundle(folder, threads=threads)
        t1 = time.perf_counter()
        got = bundle.generate(noise, classes)
        latency = (time.perf_counter() - t1) / len(noise)
        err = float(np.abs(got.astype(np.float64) - reference).max())
        parity = {"windows": int(len(noise)), "noise": "numpy default_rng(0) standard normal, 2 per class",
                  "max_abs_error": err, "reference_abs_max": float(np.abs(reference).max()),
                  "latency_ms_per_window": round(1000 * latency, 3), "threads": threads}
        row = {"bundle": str(folder), "bytes": manifest["artifact"]["bytes"], "parity": parity}
        if precision == "fp32":
            parity["limit"] = MAX_ABS
            if not err <= MAX_ABS:
                raise ValueError(f"fp32 parity failed: max abs error {err:.3g} > {MAX_ABS:g}")
            note = ""
        else:
            q_noise, q_classes, ref = check
            tstr = tstr_macro_f1(bundle.generate(q_noise, q_classes), q_classes, len(bundle.class_names))
            parity["TSTR_macro_f1"] = tstr
            parity["TSTR_macro_f1_fp32_pytorch"] = ref["TSTR_macro_f1_fp32_pytorch"]
            parity["TSTR_drop"] = round(ref["TSTR_macro_f1_fp32_pytorch"] - tstr, 5)
            note = f", TSTR macro-F1 {tstr:.3f} (fp32 {ref['TSTR_macro_f1_fp32_pytorch']:.3f})"
            if parity["TSTR_drop"] > MAX_TSTR_DROP:
                raise ValueError(f"int8 quality failed: TSTR macro-F1 {tstr:.3f} vs fp32 "
                                 f"{ref['TSTR_macro_f1_fp32_pytorch']:.3f} drops by more than {MAX_TSTR_DROP:g}")
        manifest["parity"] = parity
        write_manifest(folder, manifest)
        log(f"[diffusion export] {key}: ok, max|err| {err:.2e}{note}, {1000 * latency:.2f} ms/window")
        return {"status": "ok", **row, "seconds": round(time.perf_counter() - t0, 1)}
    except Exception as e:  # noqa: BLE001 - one format failing must not stop the others
        shutil.rmtree(folder, ignore_errors=True)
        log(f"[diffusion export] {key}: REFUSED -- {type(e).__name__}: {str(e)[:300]}")
        return {"status": "refused", "error": f"{type(e).__name__}: {str(e)[:500]}", **row,
                "seconds": round(time.perf_counter() - t0, 1)}
