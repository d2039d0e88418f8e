"""Load models from checkpoints: a name and a plain config, never pickled code.

    load_model(path) -> (module, checkpoint dict)      # any model in encoder.MODELS
    load_encoder(path) -> an encoder (IMUEncoder, MAEEncoder) from an encoder,
                          classifier or MAE pretraining checkpoint
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from imuedge import checkpoint
from imuedge.train.encoder import ENCODERS, MODELS, Classifier, build_model, model_spec
from imuedge.train.mae import MaskedAutoencoder

WEIGHTS = Path(__file__).resolve().parent / "weights"
# Encoders pretrained by the project's own documented command (see weights/README.md).
SHIPPED = {
    "IMG2IMU (sensor-aware aug), shipped": WEIGHTS / "img2imu_edge_sensor.pt",
    "MAE (raw IMU), shipped": WEIGHTS / "mae_edge.pt",
}



def load_model(path) -> tuple[nn.Module, dict]:
    """The module stored in an imuedge checkpoint, in eval mode, with its checkpoint dict."""
    ckpt = checkpoint.load(path)
    model_info = ckpt.get("model") or {}
    if model_info.get("name") not in MODELS or "state_dict" not in ckpt:
        raise checkpoint.CheckpointError(f"{path}: checkpoint of kind {ckpt.get('kind')!r} holds no model "
                                         f"imuedge can rebuild (known: {sorted(MODELS)})")
    module = build_model(model_info)
    try:
        module.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise checkpoint.CheckpointError(f"{path}: weights do not fit model {model_info['name']}: {e}") from e
    return module.eval(), ckpt


def load_encoder(path) -> nn.Module:
    """The encoder of an encoder, classifier or masked-autoencoder checkpoint."""
    module, _ = load_model(path)
    if isinstance(module, (Classifier, MaskedAutoencoder)):
        module = module.encoder
    if not isinstance(module, tuple(ENCODERS.values())):
        raise checkpoint.CheckpointError(f"{path}: not an encoder, classifier or masked-autoencoder checkpoint "
                                         f"({type(module).__name__})")
    return module


def classifier_from_probe(encoder: nn.Module, head: nn.Linear, mean: np.ndarray, std: np.ndarray) -> Classifier:
    """Fold the probe's feature standardisation into its linear layer: one exportable module."""
    model = Classifier(encoder, head.out_features)
    with torch.no_grad():
        s = torch.from_numpy(std.reshape(-1).astype(np.float32))
        m = torch.from_numpy(mean.reshape(-1).astype(np.float32))
        model.head.weight.copy_(head.weight / s)
        model.head.bias.copy_(head.bias - (head.weight / s) @ m)
    return model.eval()


def save_classifier(model: Classifier, path, window: dict, label_names: dict, provenance: dict, **extra) -> Path:
    """Write a classifier checkpoint that ``load_model``, ``imuedge eval`` and ``imuedge export`` read."""
    return checkpoint.save({"kind": "classifier", "model": model_spec(model), "state_dict": model.state_dict(),
                            "window": window, "label_names": label_names, **extra, "provenance": provenance}, path)
