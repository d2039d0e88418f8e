"""Export a generator (its unrolled sampling loop, decoder included) as generator bundles, fp32, with parity.

    imuedge diffusion export --student runs/student/student_4.pt --out runs/student-bundles
    imuedge diffusion export --student runs/ldm/latent.pt --steps 10 --guidance 1.5 --out runs/ldm-bundles

The source is a distilled student of the STFT-domain model or a latent diffusion
model (``distill.load_sampler``: the latter samples with DDIM at ``--steps`` and
classifier-free guidance in the graph).

Each format runs through the project exporter (``export/``: ``export_pte``,
``export_tflite``, ``export_onnx`` with a two-input ``ExportTarget``), then the
written bundle is loaded with ``load_bundle`` and run on fixed noise (seed 0, two
draws per class); its windows must match the PyTorch student within ``MAX_ABS``
(1e-4 m/s^2 or rad/s), else the bundle is removed and the format reported as refused.
int8 is not offered for generators yet (calibration of the two-input graph is
not wired into the exporter's quantizers).
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from imuedge.atomic import atomic_write
from imuedge.digest import sha256

MAX_ABS = 1e-4
FORMATS = ("onnx", "tflite", "pte")


def student_target(sampler, ckpt: dict, path):
    from imuedge.export.target import ExportTarget
    from imuedge.window import WindowSpec

    window = WindowSpec.from_dict(ckpt["window"])
    names = [ckpt["label_names"][str(i)] for i in range(len(ckpt["label_names"]))]
    example = (torch.zeros(1, *sampler.noise_shape), torch.zeros(1, dtype=torch.int64))
    return ExportTarget(sampler, "generate", window, {"class_names": names}, example_inputs=example,
                        input_names=("noise", "class_id"),
                        provenance={"checkpoint": str(path), "checkpoint_sha256": sha256(path),
                                    "checkpoint_provenance": ckpt.get("provenance", {})})


def generator_manifest(fmt: str, artifact: Path, target, sampler, info: dict, batch) -> dict:
    from imuedge.manifest import SCHEMA, SCHEMA_VERSION

    w = target.window.to_dict()
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "task": "generate", "format": fmt, "precision": "fp32",
        "artifact": {"file": artifact.name, "sha256": sha256(artifact), "bytes": artifact.stat().st_size},
        "input": {"batch": batch,
                  "noise": {"dtype": "float32", "shape": [batch, *sampler.noise_shape],
                            "layout": info["noise_layout"], "distribution": "standard normal"},
                  "class_id": {"dtype": "int64", "shape": [batch], "range": [0, sampler.num_classes - 1]}},
        "output": {"kind": "window", "class_names": target.output["class_names"], **w},
        "sampler": {k: v for k, v in info.items() if k != "noise_layout"},
        "quantization": None, "backend": {}, "parity": {},
        "provenance": {**target.provenance, "command": _command()},
    }


def _command() -> str:
    from imuedge.command_line import command_line
    return command_line()


def export_student(student_path, out, formats=FORMATS, threads: int = 1, log=print, steps: int | None = None,
                   guidance: float | None = None) -> dict:
    """Write OUT/{format}-fp32/ generator bundles of a generator checkpoint (a student, or a latent diffusion
    model sampled with ``steps`` and ``guidance``); return (and write) the summary."""
    from imuedge.bundle import load_bundle, mark_pte_checked, write_manifest
    from imuedge.export.pipeline import _exporter
    from imuedge.manifest import binding
    from imuedge.quiet import quiet_runtime
    from imuedge.train.diffusion.distill import load_sampler

    sampler, ckpt, info = load_sampler(student_path, steps, guidance)
    target = student_target(sampler, ckpt, student_path)
    k = sampler.num_classes
    gen = np.random.default_rng(0)
    noise = gen.standard_normal((2 * k, *sampler.noise_shape)).astype(np.float32)
    classes = np.repeat(np.arange(k), 2).astype(np.int64)
    with torch.no_grad():
        reference = sampler(torch.from_numpy(noise), torch.from_numpy(classes)).numpy()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"student": str(student_path), "steps": sampler.steps, "results": {}}
    for fmt in formats:
        key = f"{fmt}-fp32"
        folder = out / key
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        t0 = time.perf_counter()
        try:
            from imuedge.bundle import ARTIFACTS

            artifact = folder / ARTIFACTS[fmt]
            with quiet_runtime():
                backend = _exporter(fmt)(target, "fp32", None, artifact)
            if fmt == "pte":
                mark_pte_checked(sha256(artifact))
            manifest = generator_manifest(fmt, artifact, target, sampler, info, backend.get("batch"))
            manifest["backend"] = {k_: v for k_, v in backend.items() if k_ in ("backend", "batch", "ops",
                                                                                 "delegated_op_coverage")}
            manifest["fingerprint"] = {"binding_sha256": binding(manifest)}
            write_manifest(folder, manifest)
            bundle = load_bundle(folder, threads=threads)
            t1 = time.perf_counter()
            got = bundle.generate(noise, classes)
            latency = (time.perf_counter() - t1) / len(noise)
            err = float(np.abs(got.astype(np.float64) - reference).max())
            parity = {"windows": int(len(noise)), "noise": "numpy default_rng(0) standard normal, 2 per class",
                      "max_abs_error": err, "reference_abs_max": float(np.abs(reference).max()),
                      "limit": MAX_ABS, "latency_ms_per_window": round(1000 * latency, 3), "threads": threads}
            if not err <= MAX_ABS:
                raise ValueError(f"fp32 parity failed: max abs error {err:.3g} > {MAX_ABS:g}")
            manifest["parity"] = parity
            write_manifest(folder, manifest)
            summary["results"][key] = {"status": "ok", "bundle": str(folder), "bytes": manifest["artifact"]["bytes"],
                                       "seconds": round(time.perf_counter() - t0, 1), "parity": parity}
            log(f"[diffusion export] {key}: ok, max|err| {err:.2e}, {1000 * latency:.2f} ms/window")
        except Exception as e:  # noqa: BLE001 - one format failing must not stop the others
            shutil.rmtree(folder, ignore_errors=True)
            summary["results"][key] = {"status": "refused", "error": f"{type(e).__name__}: {str(e)[:500]}"}
            log(f"[diffusion export] {key}: REFUSED -- {type(e).__name__}: {str(e)[:300]}")
    summary["ok"] = all(r["status"] == "ok" for r in summary["results"].values())
    atomic_write(out / "export_summary.json", lambda f: f.write(json.dumps(summary, indent=2, default=str) + "\n"))
    return summary
