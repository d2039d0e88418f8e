"""The int8 .onnx of a classifier on the SHIPPED MAE encoder (train/weights/mae_edge.pt) keeps the exporter's
parity gate in ONNX Runtime on this host: top-1 agreement with PyTorch fp32 >= 0.98, macro-F1 within 0.02.

On x86 without VNNI, ORT's u8 x s8 integer kernels saturate on full-range 8-bit weights (the graph itself is
fine: with ORT's fusions off it agrees); the exporter's form (7-bit weights) must not."""
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import imuedge
from imuedge.export.onnx_export import INT8_FORM, inspect_onnx
from imuedge.export.make_bundles import export_bundles
from imuedge.export.target import target_from_checkpoint
from imuedge.train import fewshot
from imuedge.train.models import classifier_from_probe, load_encoder, save_classifier
from imuedge.window import WindowSpec

from .test_mae_export import FREQS_HZ, windows

SHIPPED_MAE = Path(__file__).resolve().parents[2] / "train" / "weights" / "mae_edge.pt"


@pytest.fixture(scope="module")
def shipped_mae_int8_onnx(tmp_path_factory):
    """A probe (all 200 windows) on the shipped MAE encoder, exported to int8 .onnx only (parity against PyTorch)."""
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("mae_onnx8")
    encoder = load_encoder(SHIPPED_MAE)  # its own input statistics (fitted on HAPT), as `imuedge train` keeps them
    x, y = windows(200, seed=1)
    xt, yt = windows(256, seed=2)
    r = fewshot.evaluate_probe(fewshot.embed(encoder, x), y, fewshot.embed(encoder, xt), yt, None, 0, len(FREQS_HZ))
    path = save_classifier(classifier_from_probe(encoder, r.head, r.mean, r.std), tmp / "classifier.pt",
                           WindowSpec().to_dict(), {str(i): f"{f:g} Hz" for i, f in enumerate(FREQS_HZ)},
                           {"test": "shipped MAE, probe"})
    target = target_from_checkpoint(path)
    summary = export_bundles(target, tmp / "bundles", ("onnx",), ("int8",), calibration=x, eval_x=xt, eval_y=yt,
                             log=lambda *a: None)
    return summary["results"]["onnx-int8"], tmp / "bundles" / "onnx-int8", target, xt


def test_shipped_mae_int8_onnx_keeps_parity(shipped_mae_int8_onnx):
    result, folder, target, xt = shipped_mae_int8_onnx
    assert result["status"] == "ok", result  # the exporter's default Limits: agreement >= 0.98, F1 drop <= 0.02
    parity = result["parity"]
    assert parity["top1_agreement"] >= 0.98 and parity["macro_f1_drop"] <= 0.02, parity
    assert parity["macro_f1_fp32"] > 0.9  # the reference learned the task, or agreement would mean little
    # recomputed here from the bundle, in ORT with its default (all) graph optimisations
    out = imuedge.load_bundle(folder, threads=1).predict(xt)
    assert np.mean(out.argmax(1) == target.reference(xt).numpy().argmax(1)) >= 0.98


def test_shipped_mae_int8_onnx_is_int8_in_the_chosen_form(shipped_mae_int8_onnx):
    result, folder, _, _ = shipped_mae_int8_onnx
    quant = imuedge.bundle.read_manifest(folder)[0]["quantization"]
    assert quant["form"] == INT8_FORM.name and "reduce_range" in quant["note"]
    # every linear of the 3 blocks (q, k, v, proj, 2 MLP) and the patch embedding run with int8 weights
    assert inspect_onnx(folder / "model.onnx")["int8_ops"].get("MatMul", 0) >= 3 * 6 + 1
    # shipped without the exporter's per-node metadata (module scopes, stack traces with this machine's paths)
    assert not any(n.metadata_props for n in onnx.load(str(folder / "model.onnx")).graph.node)
