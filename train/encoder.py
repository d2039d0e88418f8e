"""IMG2IMU encoder and classifier, rebuildable from plain-dict configs.

``IMUEncoder``: raw window ``(B, C, T)`` -> ``Spectrogram`` -> one image per
sensor ``(B, S, 3, H, W)`` -> ONE image backbone shared by all sensors ->
per-sensor embeddings concatenated in sensor order (acc, then gyro) ->
``(B, S * backbone.out_dim)``. This is the IMG2IMU paper's fusion of
accelerometer and gyroscope: each sensor's spectrogram is its own image
through the same vision encoder, and the embeddings are concatenated.

Checkpoints store ``model_spec(module) == {"name": ..., "config": {...}}``
(JSON-able) next to the state dict; ``build_model(spec)`` rebuilds the
module without unpickling code.

The encoder contract (``ENCODERS``: IMG2IMU's ``IMUEncoder``, ``mae.MAEEncoder``):
raw window ``(B, C, T)`` -> ``(B, out_dim)``; ``channels``; ``window`` (samples);
``fit_normalization(windows)`` (statistics of unlabelled training windows, inside
the graph); ``to_config``/``from_config``. ``Classifier``, the few-shot CLI, the main
job, the export and the benchmarks rely on nothing else.
"""
from __future__ import annotations

import torch
from torch import nn

from imuedge.spectrogram import Spectrogram, SpectrogramConfig
from imuedge.window import CHANNELS

from .backbones import BACKBONES, build_backbone
from .mae import MAEEncoder, MaskedAutoencoder


class IMUEncoder(nn.Module):
    """Raw window ``(B, C, T)`` -> embedding ``(B, n_sensors * image_dim)``."""

    def __init__(self, channels: tuple[str, ...] | list[str] = CHANNELS, backbone: str = "edge",
                 backbone_kwargs: dict | None = None, spectrogram: SpectrogramConfig | dict | None = None):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"IMUEncoder needs an image backbone, one of {sorted(BACKBONES)}; got {backbone!r}")
        if isinstance(spectrogram, dict):
            spectrogram = SpectrogramConfig.from_dict(spectrogram)
        self.spectrogram = Spectrogram(channels, spectrogram)
        self.backbone_name = backbone
        self.backbone = build_backbone(backbone, **(backbone_kwargs or {}))
        self.image_dim = self.backbone.out_dim
        self.out_dim = self.spectrogram.n_sensors * self.image_dim

    @property
    def channels(self) -> tuple[str, ...]:
        return self.spectrogram.channels

    @property
    def sensors(self) -> tuple[str, ...]:
        return self.spectrogram.sensors

    @property
    def window(self) -> int:
        return self.spectrogram.config.samples

    def fit_normalization(self, windows) -> None:
        """The spectrogram's per-axis statistics from unlabelled training windows ``(N, C, T)``."""
        self.spectrogram.fit_normalization(windows)

    def to_config(self) -> dict:
        return {"channels": list(self.channels), "backbone": self.backbone_name,
                "backbone_kwargs": self.backbone.to_config(),
                "spectrogram": self.spectrogram.config.to_dict()}

    @classmethod
    def from_config(cls, d: dict) -> "IMUEncoder":
        return cls(tuple(d["channels"]), d["backbone"], d.get("backbone_kwargs"), d.get("spectrogram"))

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T)`` -> ``(B, n_sensors, 3, H, W)``."""
        return self.spectrogram(x)

    def forward_images(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 3, H, W)`` -> ``(N, image_dim)``; the pretraining path."""
        return self.backbone(images)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images = self.images(x)
        b, s = images.shape[:2]
        embeddings = self.forward_images(images.flatten(0, 1))  # (B * S, D), batch-major
        return embeddings.reshape(b, s * self.image_dim)


ENCODERS = {"imu_encoder": IMUEncoder, "mae_encoder": MAEEncoder}


def encoder_name(encoder: nn.Module) -> str:
    for name, cls in ENCODERS.items():
        if type(encoder) is cls:
            return name
    raise TypeError(f"{type(encoder).__name__} is not one of the encoders {sorted(ENCODERS)}")


class Classifier(nn.Module):
    """An encoder (any of ``ENCODERS``) + linear head: ``(B, C, T)`` -> logits ``(B, num_classes)``."""

    def __init__(self, encoder: nn.Module, num_classes: int):
        super().__init__()
        self.encoder_name = encoder_name(encoder)
        self.encoder = encoder
        self.num_classes = num_classes
        self.head = nn.Linear(encoder.out_dim, num_classes)

    def to_config(self) -> dict:
        d = {"encoder": self.encoder.to_config(), "num_classes": self.num_classes}
        if self.encoder_name != "imu_encoder":  # absent: IMUEncoder (checkpoints written before there were two)
            d["encoder_name"] = self.encoder_name
        return d

    @classmethod
    def from_config(cls, d: dict) -> "Classifier":
        name = d.get("encoder_name", "imu_encoder")
        if name not in ENCODERS:
            raise ValueError(f"unknown encoder {name!r}; known: {sorted(ENCODERS)}")
        return cls(ENCODERS[name].from_config(d["encoder"]), int(d["num_classes"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


MODELS = {**ENCODERS, "classifier": Classifier, "masked_autoencoder": MaskedAutoencoder}


def model_spec(module: nn.Module) -> dict:
    """``{"name", "config"}`` for a checkpoint's ``"model"`` entry."""
    for name, cls in MODELS.items():
        if type(module) is cls:
            return {"name": name, "config": module.to_config()}
    raise TypeError(f"{type(module).__name__} is not one of {sorted(MODELS)}")


def build_model(spec: dict) -> nn.Module:
    """Rebuild a module (fresh weights) from ``model_spec``'s dict."""
    name = spec.get("name")
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name].from_config(spec["config"])
