"""An MAE encoder end to end, tiny: pretrain -> 10-shot probe -> classifier checkpoint -> every format and
precision -> parity in the real runtimes."""
import numpy as np
import pytest
import torch

from imuedge.export.make_bundles import Limits, export_bundles
from imuedge.export.target import target_from_checkpoint
from imuedge.train import fewshot
from imuedge.train.mae import MAEConfig
from imuedge.train.mae_pretrain import MAEPretrainConfig, pretrain
from imuedge.train.models import classifier_from_probe, load_encoder, load_model, save_classifier
from imuedge.window import CHANNELS, WindowSpec

FREQS_HZ = [1.0, 3.0, 6.0, 11.0]


def windows(n: int, seed: int):
    """Windows whose class is their dominant frequency (random phase, amplitude, gravity on acc_z)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(FREQS_HZ), n)
    t = np.arange(128) / 50.0
    x = np.empty((n, 6, 128), np.float32)
    for i, k in enumerate(y):
        f = FREQS_HZ[k] * rng.uniform(0.9, 1.1)
        x[i] = rng.uniform(0.5, 2.0, (6, 1)) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3, (6, 1)))
        x[i] += 0.1 * rng.normal(size=(6, 128))
    x[:, 2] += 9.81
    return x, y


@pytest.fixture(scope="module")
def mae_classifier(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mae")
    unlabelled, _ = windows(256, seed=0)
    np.savez(tmp / "unlabelled.npz", x=unlabelled, channels=np.array(CHANNELS), sample_rate_hz=np.float64(50.0))
    cfg = MAEPretrainConfig(model=MAEConfig(dim=32, depth=1, heads=2, decoder_dim=16, decoder_depth=1,
                                            decoder_heads=2),
                            imu_windows=str(tmp / "unlabelled.npz"), steps=30, batch_size=32, lr=2e-3,
                            warmup_steps=5, out=str(tmp / "pretrain"), threads=1)
    encoder = load_encoder(pretrain(cfg, quiet=True))
    x, y = windows(200, seed=1)
    xt, yt = windows(300, seed=2)
    encoder.fit_normalization(x)
    r = fewshot.evaluate_probe(fewshot.embed(encoder, x), y, fewshot.embed(encoder, xt), yt, 10, 0, len(FREQS_HZ))
    model = classifier_from_probe(encoder, r.head, r.mean, r.std)
    path = save_classifier(model, tmp / "classifier.pt", WindowSpec().to_dict(),
                           {str(i): f"{f:g} Hz" for i, f in enumerate(FREQS_HZ)}, {"test": "tiny MAE"})
    return path, r.macro_f1, (x, xt, yt), tmp


def test_the_saved_classifier_is_the_probe(mae_classifier):
    path, probe_f1, (x, xt, yt), tmp = mae_classifier
    model, _ = load_model(path)  # encoder + the probe's standardisation and head: the probe's test score
    assert fewshot.score(yt, fewshot.predict(model, xt), len(FREQS_HZ))[0] == pytest.approx(probe_f1, abs=1e-9)


def test_tiny_mae_probe_exports_to_every_format_with_parity(mae_classifier):
    path, probe_f1, (x, xt, yt), tmp = mae_classifier
    target = target_from_checkpoint(path)
    assert target.task == "classify" and target.window.window == 128
    summary = export_bundles(target, tmp / "bundles", ("pte", "tflite", "onnx"), ("fp32", "int8"), calibration=x,
                             eval_x=xt, eval_y=yt, limits=Limits(int8_min_agreement=0.9, int8_max_f1_drop=0.05),
                             log=lambda *a: None)
    results = summary["results"]
    for fmt in ("pte", "tflite", "onnx"):  # fp32: the same outputs as PyTorch, in each real runtime
        r = results[f"{fmt}-fp32"]
        assert r["status"] == "ok", r
        assert r["parity"]["max_abs_error"] <= 1e-4 and r["parity"]["top1_agreement"] == 1.0
    assert results["pte-fp32"]["coverage"] == 1.0  # every op of the .pte runs in the XNNPACK delegate
    for fmt in ("pte", "tflite", "onnx"):  # int8 with int8 weights (the exporter refuses a float model otherwise)
        assert results[f"{fmt}-int8"]["status"] == "ok", results[f"{fmt}-int8"]
    assert results["pte-int8"]["coverage"] == 1.0
