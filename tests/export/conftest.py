"""Shared fixtures: a small real ``Classifier`` trained on separable synthetic windows, exported once."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from imuedge import checkpoint
from imuedge.window import WindowSpec

CLASSES = ["slow", "walk", "run", "shake"]
FREQS_HZ = [1.5, 4.0, 8.0, 14.0]  # dominant frequency of each class


def synthetic_windows(n: int, seed: int, window: int = 128, rate: float = 50.0):
    """(x (n, 6, T) in m/s^2 and rad/s, y (n,)): class = dominant frequency, random phase/amplitude."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CLASSES), n)
    t = np.arange(window) / rate
    x = np.empty((n, 6, window), np.float32)
    for i, k in enumerate(y):
        f = FREQS_HZ[k] * rng.uniform(0.9, 1.1)
        for c in range(6):
            amp = rng.uniform(1.0, 3.0) if c < 3 else rng.uniform(0.3, 1.0)
            noise = 0.3 if c < 3 else 0.05
            x[i, c] = amp * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) + noise * rng.normal(size=window)
        x[i, 2] += 9.81  # gravity on acc_z
    return x, y


def small_classifier(seed: int = 0):
    from imuedge.train.encoder import Classifier, IMUEncoder

    torch.manual_seed(seed)
    enc = IMUEncoder(backbone="edge", backbone_kwargs={"widths": [8, 16], "depths": [1, 1]},
                     spectrogram={"image_size": [32, 32]})
    return Classifier(enc, len(CLASSES))


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory):
    from imuedge.train.encoder import model_spec

    torch.manual_seed(0)
    model = small_classifier()
    x, y = synthetic_windows(256, seed=1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for epoch in range(4):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 32):
            idx = perm[i:i + 32]
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    path = tmp_path_factory.mktemp("ckpt") / "classifier.pt"
    checkpoint.save({"kind": "classifier", "model": model_spec(model), "state_dict": model.state_dict(),
                     "window": WindowSpec().to_dict(), "label_names": {str(i): n for i, n in enumerate(CLASSES)},
                     "provenance": {"seed": 0, "data": "synthetic"}}, path)
    return path


@pytest.fixture(scope="session")
def exported(trained_checkpoint, tmp_path_factory):
    """All six format x precision bundles of the trained model, with parity on 256 windows."""
    from imuedge.export import export_bundles, target_from_checkpoint

    torch.set_num_threads(1)
    target = target_from_checkpoint(trained_checkpoint)
    cal, _ = synthetic_windows(64, seed=2)
    ex, ey = synthetic_windows(256, seed=3)
    out = tmp_path_factory.mktemp("bundles")
    summary = export_bundles(target, out, ("pte", "tflite", "onnx"), ("fp32", "int8"), calibration=cal,
                             eval_x=ex, eval_y=ey, data={"source": "synthetic"}, seed=0, log=print)
    return {"target": target, "out": out, "summary": summary, "x": ex, "y": ey}


@pytest.fixture(scope="session")
def make_windows():
    return synthetic_windows
