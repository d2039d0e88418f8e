"""Noise schedules, one per sensor, and samplers in the style of diffusers' schedulers.

    schedule = NoiseSchedule.linear(ScheduleConfig(), plane_sensor)   # alphas_cumprod (T, planes)
    sampler = DDIMScheduler(schedule); sampler.set_timesteps(10)
    x = noise
    for t in sampler.timesteps:
        x = sampler.step(model(x, t), t, x)        # model output: v (see below)
    noisy = sampler.add_noise(x0, noise, t)        # q(x_t | x_0), for training

Per-sensor schedules: every (channel x real/imag) plane follows the linear beta
schedule of its sensor -- the accelerometer's planes one, the gyroscope's another
(IMUDiffusion: beta 9e-4 for the accelerometer, 6e-4 for the gyroscope). Here
those are the schedules' *starting* betas; both rise linearly to ``beta_end`` 0.02
so that alpha_bar at the last step is ~3e-5 (pure noise) over 1000 steps. The
cumulative products are therefore vectors over planes, and every formula below
is the usual one applied element-wise.

Parameterisation: the model predicts v = alpha * eps - sigma * x0 (Salimans & Ho
2022). x0 = alpha * x_t - sigma * v and eps = sigma * x_t + alpha * v are both
well conditioned at every noise level, which is what progressive distillation
needs: an eps-model's x0 = (x_t - sigma * eps) / alpha blows up at the last steps
(alpha_T ~ 0.005), exactly where a 1- or 2-step student starts.

Timesteps are spaced "trailing" (Lin et al. 2024): n steps start at T-1 and are
T/n apart, so every sampler starts from pure noise, a 1-step one included.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ScheduleConfig:
    steps: int = 1000  # training timesteps T
    beta_start: dict = field(default_factory=lambda: {"acc": 9e-4, "gyro": 6e-4})  # per sensor
    beta_end: dict = field(default_factory=lambda: {"acc": 0.02, "gyro": 0.02})


class NoiseSchedule:
    """alpha_bar (T, planes) float64; ``plane_sensor`` names each plane's sensor."""

    def __init__(self, alphas_cumprod: torch.Tensor):
        self.alphas_cumprod = alphas_cumprod.double()
        self.num_train_timesteps = alphas_cumprod.shape[0]

    @classmethod
    def linear(cls, cfg: ScheduleConfig, plane_sensor: list[str]) -> "NoiseSchedule":
        cols = []
        for sensor in plane_sensor:
            if sensor not in cfg.beta_start or sensor not in cfg.beta_end:
                raise ValueError(f"no noise schedule for sensor {sensor!r}; have {sorted(cfg.beta_start)}")
            b0, b1 = float(cfg.beta_start[sensor]), float(cfg.beta_end[sensor])
            if not 0 < b0 <= b1 < 1:
                raise ValueError(f"{sensor}: betas must satisfy 0 < beta_start <= beta_end < 1, got {b0}, {b1}")
            betas = torch.linspace(b0, b1, cfg.steps, dtype=torch.float64)
            cols.append(torch.cumprod(1 - betas, 0))
        return cls(torch.stack(cols, 1))

    def alpha_bar(self, t) -> torch.Tensor:
        """alpha_bar at timestep(s) t: (planes,) for an int, (B, planes) for a tensor; t = -1 means 1 (clean)."""
        t = torch.as_tensor(t)
        ones = torch.ones_like(self.alphas_cumprod[0])
        if t.dim() == 0:
            return ones if int(t) < 0 else self.alphas_cumprod[int(t)]
        out = self.alphas_cumprod[t.clamp_min(0)]
        return torch.where((t < 0)[:, None], ones, out)

    def alpha_sigma(self, t, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(alpha, sigma) at t, shaped to broadcast over ``like`` (B, planes, ...): STFT planes (B, planes, H, W)
        or latent sequences (B, channels, L), in its dtype. A one-column schedule broadcasts over every plane."""
        ab = self.broadcast(self.alpha_bar(t), like)
        return ab.sqrt(), (1 - ab).sqrt()

    @staticmethod
    def broadcast(ab: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """(planes,) or (B, planes) -> (1 or B, planes, 1, ...) to match ``like``'s rank, dtype and device."""
        shape = (-1 if ab.dim() == 2 else 1, ab.shape[-1]) + (1,) * (like.dim() - 2)
        return ab.reshape(shape).to(like.dtype).to(like.device)


def trailing_timesteps(num_train: int, n: int) -> list[int]:
    """n timesteps from T-1 down, T/n apart: [T-1, T-1-T/n, ...]."""
    if not 1 <= n <= num_train:
        raise ValueError(f"number of sampling steps must be 1..{num_train}, got {n}")
    return [int(round(num_train - i * num_train / n)) - 1 for i in range(n)]


def sampling_timesteps(num_train: int, n: int, halt: float = 1.0) -> list[int]:
    """``trailing_timesteps``, the reverse process halted ``halt`` of the way (TimeVQVDM's option, 0.99):
    timesteps below round((1 - halt) T) are dropped (the first step is always kept), so the last step taken
    lands on the clean estimate (its x0-prediction) from the lowest noise level left. halt = 1: all of them."""
    if not 0.0 < halt <= 1.0:
        raise ValueError(f"halt must be in (0, 1], got {halt}")
    ts = trailing_timesteps(num_train, n)
    floor = round((1.0 - halt) * num_train)
    return [t for t in ts if t >= floor] or ts[:1]


def predict_x0_eps(v: torch.Tensor, x_t: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor):
    """x0 and eps from a v-prediction."""
    return alpha * x_t - sigma * v, sigma * x_t + alpha * v


class _Scheduler:
    def __init__(self, schedule: NoiseSchedule):
        self.schedule = schedule
        self.num_train_timesteps = schedule.num_train_timesteps
        self.timesteps: list[int] = []
        self.set_timesteps(self.num_train_timesteps)

    def set_timesteps(self, n: int, halt: float = 1.0) -> None:
        self.timesteps = sampling_timesteps(self.num_train_timesteps, n, halt)

    def previous(self, t: int) -> int:
        i = self.timesteps.index(int(t))
        return self.timesteps[i + 1] if i + 1 < len(self.timesteps) else -1

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t = alpha_t x0 + sigma_t noise (t: (B,) timesteps)."""
        alpha, sigma = self.schedule.alpha_sigma(t, x0)
        return alpha * x0 + sigma * noise

    def velocity(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The v target: alpha_t noise - sigma_t x0."""
        alpha, sigma = self.schedule.alpha_sigma(t, x0)
        return alpha * noise - sigma * x0


class DDIMScheduler(_Scheduler):
    """Deterministic DDIM (eta = 0): x_prev = alpha_prev x0 + sigma_prev eps."""

    def step(self, model_output: torch.Tensor, t: int, sample: torch.Tensor, generator=None) -> torch.Tensor:
        alpha, sigma = self.schedule.alpha_sigma(t, sample)
        alpha_p, sigma_p = self.schedule.alpha_sigma(self.previous(t), sample)
        x0, eps = predict_x0_eps(model_output, sample, alpha, sigma)
        return alpha_p * x0 + sigma_p * eps


class DDPMScheduler(_Scheduler):
    """Ancestral DDPM: x_prev ~ q(x_prev | x_t, x0_hat), over all T steps by default (or a trailing subset,
    with the betas of the jumps between the chosen steps)."""

    def step(self, model_output: torch.Tensor, t: int, sample: torch.Tensor, generator=None) -> torch.Tensor:
        prev = self.previous(t)
        ab_t = self.schedule.broadcast(self.schedule.alpha_bar(t), sample)
        ab_p = self.schedule.broadcast(self.schedule.alpha_bar(prev), sample)
        alpha, sigma = ab_t.sqrt(), (1 - ab_t).sqrt()
        x0, _ = predict_x0_eps(model_output, sample, alpha, sigma)
        beta = 1 - ab_t / ab_p  # of the jump t -> prev
        mean = (ab_p.sqrt() * beta / (1 - ab_t)) * x0 + ((1 - beta).sqrt() * (1 - ab_p) / (1 - ab_t)) * sample
        if prev < 0:
            return mean
        var = beta * (1 - ab_p) / (1 - ab_t)
        noise = torch.randn(sample.shape, generator=generator, dtype=sample.dtype).to(sample.device)
        return mean + var.sqrt() * noise


SAMPLERS = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler}
