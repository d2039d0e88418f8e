"""Refusals, not surprises: tampered artifacts, newer schemas, wrong windows, un-lowerable ops."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from torch import nn

import imuedge
from imuedge.export import BundleError, ExportTarget, export_bundles
from imuedge.window import WindowSpec


@pytest.fixture
def bundle_copy(exported, tmp_path):
    dst = tmp_path / "onnx-fp32"
    shutil.copytree(exported["out"] / "onnx-fp32", dst)
    return dst


def test_hash_mismatch_refused(bundle_copy):
    model = bundle_copy / "model.onnx"
    data = bytearray(model.read_bytes())
    data[-10] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256 .* does not match"):
        imuedge.load_bundle(bundle_copy)


def test_newer_schema_refused(bundle_copy):
    manifest = json.loads((bundle_copy / "imuedge.json").read_text())
    manifest["schema_version"] = 99
    (bundle_copy / "imuedge.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="schema version 99 is newer .* upgrade imuedge"):
        imuedge.load_bundle(bundle_copy)


def test_not_a_bundle_refused(tmp_path):
    with pytest.raises(BundleError, match="no imuedge.json"):
        imuedge.load_bundle(tmp_path)


@pytest.mark.parametrize("key", ["pte-fp32", "tflite-int8", "onnx-fp32"])
def test_wrong_window_shape_refused(exported, key):
    p = imuedge.load_bundle(exported["out"] / key)
    for bad in (np.zeros((6, 100), np.float32), np.zeros((2, 3, 128), np.float32), np.zeros(128, np.float32)):
        with pytest.raises(ValueError) as e:
            p.predict(bad)
        msg = str(e.value)
        assert str(tuple(bad.shape)) in msg and "(6, 128)" in msg and "acc_x" in msg


class Rank(nn.Module):
    """A layer using kthvalue: exportable with torch.export, lowerable by none of the edge backends."""

    def forward(self, x):
        return x.kthvalue(3, dim=-1).values


class WithRank(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = Rank()
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        return self.head(self.features(x))


def test_unlowerable_op_named_with_its_layer(tmp_path):
    torch.manual_seed(0)
    target = ExportTarget(WithRank().eval(), "classify", WindowSpec(), {"class_names": ["a", "b"]})
    x = np.random.default_rng(0).normal(size=(8, 6, 128)).astype(np.float32)
    summary = export_bundles(target, tmp_path, ("pte", "tflite", "onnx", "torch"), ("fp32",), eval_x=x,
                             log=lambda *a: None)
    res = summary["results"]
    for key in ("pte-fp32", "tflite-fp32", "onnx-fp32"):
        assert res[key]["status"] == "refused", res[key]
        assert "kthvalue" in res[key]["error"] and "features" in res[key]["error"], res[key]["error"]
        assert res[key]["ops"] == {"aten.kthvalue.default": ["features"]}
        assert not (tmp_path / key).exists()  # nothing half-written is left behind
    # the other format still succeeds
    assert res["torch-fp32"]["status"] == "ok"
    p = imuedge.load_bundle(tmp_path / "torch-fp32")
    np.testing.assert_allclose(p.predict(x), target.reference(x).numpy(), atol=1e-6)
    assert not summary["ok"]


def test_int8_needs_calibration(tmp_path):
    target = ExportTarget(WithRank().eval(), "classify", WindowSpec(), {"class_names": ["a", "b"]})
    x = np.zeros((4, 6, 128), np.float32)
    res = export_bundles(target, tmp_path, ("pte",), ("int8",), eval_x=x, log=lambda *a: None)["results"]
    assert res["pte-int8"]["status"] == "refused" and "calibration" in res["pte-int8"]["error"]


class Pick(nn.Module):
    def forward(self, x):
        return x[:, 0, :4] * 2.0


class WithPick(nn.Module):
    def __init__(self):
        super().__init__()
        self.pick = Pick()
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.pick(x))


def test_pte_op_without_runtime_kernel_named(tmp_path, monkeypatch):
    """An op left to portable kernels that this ExecuTorch runtime lacks fails pte, named with its layer."""
    from executorch.runtime import OperatorRegistry

    monkeypatch.setattr(OperatorRegistry, "operator_names", property(lambda self: set()))
    target = ExportTarget(WithPick().eval(), "classify", WindowSpec(), {"class_names": ["a", "b"]})
    x = np.random.default_rng(0).normal(size=(4, 6, 128)).astype(np.float32)
    res = export_bundles(target, tmp_path, ("pte",), ("fp32",), eval_x=x, log=lambda *a: None)["results"]
    assert res["pte-fp32"]["status"] == "refused"
    err = res["pte-fp32"]["error"]
    assert "no ExecuTorch kernel" in err and "select_copy" in err and "'pick'" in err, err
