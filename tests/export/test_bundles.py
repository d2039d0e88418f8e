"""All six format x precision bundles: exported, loaded in their real runtime, parity-checked."""
from __future__ import annotations

import json

import numpy as np
import pytest

import imuedge

COMBOS = [(f, p) for f in ("pte", "tflite", "onnx") for p in ("fp32", "int8")]


@pytest.mark.parametrize("fmt,precision", COMBOS)
def test_bundle_parity(exported, fmt, precision):
    key = f"{fmt}-{precision}"
    result = exported["summary"]["results"][key]
    assert result["status"] == "ok", result
    folder = exported["out"] / key
    manifest = json.loads((folder / "imuedge.json").read_text())
    assert manifest["schema_version"] == 1 and manifest["format"] == fmt and manifest["precision"] == precision
    assert manifest["task"] == "classify"
    assert manifest["output"]["class_names"] == ["slow", "walk", "run", "shake"]
    assert manifest["input"]["channels"] == ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
    assert manifest["input"]["window"] == 128 and manifest["input"]["sample_rate_hz"] == 50.0
    assert manifest["provenance"]["checkpoint_sha256"] and manifest["provenance"]["packages"]["torch"]
    parity = manifest["parity"]
    assert parity["windows"] == 256
    # The reference model itself must have learned the task, or agreement means little.
    assert parity["macro_f1_fp32"] > 0.9
    if precision == "fp32":
        assert parity["max_abs_error"] <= 1e-4, parity
        assert parity["top1_agreement"] == 1.0
    else:
        assert parity["top1_agreement"] >= 0.95, parity
        assert parity["macro_f1_int8"] >= parity["macro_f1_fp32"] - 0.05
        # int8 really is int8: conv/linear ops with int8 weights in the artifact
        assert sum(manifest["quantization"]["quantized_ops"].values()) >= 3, manifest["quantization"]
        # float: the spectrogram, the stem conv reading its image, the head producing the logits
        floats = manifest["quantization"]["float_modules"]
        assert floats[0] == "encoder.spectrogram" and "encoder.backbone.stem.0" in floats, floats
        assert parity["size_ratio_to_fp32"] is not None and "macro_f1_drop" in parity

    # One loading API for every backend; (C, T) and (B, C, T), fixed-batch graphs loop.
    p = imuedge.load_bundle(folder, threads=1)
    x = exported["x"][:3]
    ref = exported["target"].reference(x).numpy()
    out = p.predict(x)
    assert out.shape == (3, 4) and out.dtype == np.float32
    one = p.predict(x[0])
    assert one.shape == (4,)
    np.testing.assert_allclose(one, out[0], atol=1e-5)
    if precision == "fp32":
        np.testing.assert_allclose(out, ref, atol=1e-4)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_pte_reports_delegation(exported, precision):
    backend = json.loads((exported["out"] / f"pte-{precision}" / "imuedge.json").read_text())["backend"]
    assert backend["delegated_ops"] and 0.5 < backend["delegated_op_coverage"] <= 1.0
    assert "aten::convolution.default" in backend["delegated_ops"]
    # whatever was not delegated is listed with the layer it comes from
    assert set(backend["portable_ops"]) == set(backend["portable_op_layers"])
    # The IMG2IMU classifier runs whole in XNNPACK: spectrogram, backbone, global average pool, head.
    assert backend["portable_ops"] == {} and backend["delegate_partitions"] == 1, backend


def test_summary_written(exported):
    summary = json.loads((exported["out"] / "export_summary.json").read_text())
    assert summary["ok"] and len(summary["results"]) == 6
