"""The VAE's KL weight, adapted while training (TimeLDM): decays when reconstruction stops improving.

    beta = AdaptiveBeta(AdaptiveBetaConfig())       # starts at beta_max = 1e-2
    for step in ...:
        loss = recon + beta.value * kl
        beta.update(recon.item())                   # x factor (0.7) after `patience` steps without a new best

A large KL weight early keeps the latent close to N(0, I) (what the diffusion prior
starts from); once the reconstruction plateaus, the weight is lowered so the decoder
can use more of the latent, down to ``beta_min``. "Improved" means the (optionally
smoothed) reconstruction loss fell below its best so far by more than ``min_delta``
(relative); the patience count restarts after each decay, so decays are at least
``patience`` steps apart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class AdaptiveBetaConfig:
    beta_max: float = 1e-2  # starting weight
    beta_min: float = 1e-5  # floor
    factor: float = 0.7  # lambda: multiplier on a plateau
    patience: int = 100  # steps without improvement before a decay
    min_delta: float = 1e-3  # relative improvement that counts
    smoothing: float = 0.9  # EMA of the per-step loss (0: the raw loss)

    def __post_init__(self):
        if not 0 < self.beta_min <= self.beta_max:
            raise ValueError(f"KL weights must satisfy 0 < beta_min <= beta_max, got {self.beta_min}, "
                             f"{self.beta_max}")
        if not 0 < self.factor < 1 or self.patience < 1 or not 0 <= self.smoothing < 1 or self.min_delta < 0:
            raise ValueError("adaptive beta needs 0 < factor < 1, patience >= 1, 0 <= smoothing < 1, "
                             "min_delta >= 0")


class AdaptiveBeta:
    def __init__(self, config: AdaptiveBetaConfig | None = None):
        self.config = config or AdaptiveBetaConfig()
        self.value = self.config.beta_max
        self.best = math.inf
        self.smoothed: float | None = None
        self.waited = 0

    def update(self, recon_loss: float) -> float:
        """Record one step's reconstruction loss; return the weight for the next step."""
        cfg = self.config
        loss = float(recon_loss)
        if not math.isfinite(loss):
            raise ValueError(f"reconstruction loss is {loss}; training diverged")
        self.smoothed = loss if self.smoothed is None else cfg.smoothing * self.smoothed + (1 - cfg.smoothing) * loss
        if self.smoothed < self.best * (1 - cfg.min_delta):
            self.best, self.waited = self.smoothed, 0
        else:
            self.waited += 1
        if self.waited >= cfg.patience:
            self.decay()
        return self.value

    def decay(self) -> None:
        self.value = max(self.value * self.config.factor, self.config.beta_min)
        self.waited = 0

    def state_dict(self) -> dict:
        return {"value": self.value, "best": self.best, "smoothed": self.smoothed, "waited": self.waited}

    def load_state_dict(self, state: dict) -> None:
        self.value, self.best = float(state["value"]), float(state["best"])
        self.smoothed = None if state["smoothed"] is None else float(state["smoothed"])
        self.waited = int(state["waited"])
