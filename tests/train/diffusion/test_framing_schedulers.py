"""The diffusion teacher's parts, each against what it must compute."""
import numpy as np
import pytest
import torch

from imuedge.train.diffusion.framing import Framing, FramingConfig, analysis_matrix
from imuedge.train.diffusion.model import DiffusionConfig, DiffusionModel, check_guidance, mix_guidance, \
    plane_sensors
from imuedge.train.diffusion.schedulers import (DDIMScheduler, DDPMScheduler, NoiseSchedule, ScheduleConfig,
                                                trailing_timesteps)
from imuedge.window import CHANNELS


def hapt_like(n=8, seed=0):
    """Windows at the scale of real ones: gravity on acc, a 2 Hz gait, gyro ~1 rad/s, noise."""
    g = np.random.default_rng(seed)
    t = np.arange(128) / 50.0
    x = g.normal(0, 1.0, (n, 6, 128))
    x[:, 0] += 9.8 + 3 * np.sin(2 * np.pi * 2 * t)
    x[:, 3:] += np.sin(2 * np.pi * 1.3 * t)
    return torch.from_numpy(x).float()


def test_stft_round_trip_is_exact_in_physical_units():
    f = Framing(6)
    x = hapt_like()
    f.fit(x)
    back = f.decode(f.encode(x))
    assert (back - x).abs().max().item() <= 1e-4
    assert (f.istft(f.stft(x)) - x).abs().max().item() <= 1e-4


def test_window_mean_framing_round_trips_and_carries_each_windows_mean_in_the_imaginary_dc_row():
    f = Framing(6, FramingConfig(window_mean=True))
    x = hapt_like()
    x[:4, :3] += torch.tensor([0.0, 6.0, -7.0])[:, None]  # two postures: gravity on another axis
    f.fit(x)
    z = f.encode(x)
    assert (f.decode(z) - x).abs().max().item() <= 1e-4
    carried = z[:, 1::2, 0, :]  # (B, C, frames): the imaginary DC row of each channel
    assert (carried - carried[..., :1]).abs().max().item() == 0.0  # one value per window, every frame
    m = x.mean(dim=2)
    torch.testing.assert_close(carried[..., 0], (m - m.mean(0)) / m.std(0), atol=1e-4, rtol=1e-4)
    # the real planes hold only the zero-mean remainder: the mean moves no other plane
    shifted = f.encode(x + torch.tensor([3.0, 0, 0, 0.5, 0, 0])[:, None])
    rest = torch.ones_like(z, dtype=torch.bool)
    rest[:, 1::2, 0, :] = False
    assert (shifted - z)[rest].abs().max().item() <= 1e-4
    # decode reads the mean as the row's average: noise on that row moves the window's mean only
    noisy = z.clone()
    noisy[:, 1::2, 0, :] += torch.randn(noisy[:, 1::2, 0, :].shape)
    d = f.decode(noisy) - x
    assert (d - d.mean(dim=2, keepdim=True)).abs().max().item() <= 1e-4
    torch.testing.assert_close(d.mean(dim=2), noisy[:, 1::2, 0, :].sub(carried).mean(-1) * f.mean_scale[:, 0],
                               atol=1e-4, rtol=1e-4)
    # and noise on every other plane moves everything but the window's mean
    noisy = z + torch.randn(z.shape) * rest
    torch.testing.assert_close(f.decode(noisy).mean(dim=2), m, atol=1e-4, rtol=1e-4)


def test_framings_without_window_mean_keep_their_state_and_behaviour():
    f = Framing(6)
    assert sorted(f.state_dict()) == ["analysis", "mean", "scale", "std", "synthesis"]  # old checkpoints load
    x = hapt_like()
    f.fit(x)
    torch.testing.assert_close(f.mean[:, 0], x.mean(dim=(0, 2)))
    assert f.encode(x)[:, 1::2, 0, :].abs().max().item() <= 1e-5  # a real signal's DC has no imaginary part


def test_stft_columns_are_the_dft_of_hann_frames():
    cfg = FramingConfig()
    x = np.random.default_rng(1).normal(size=cfg.samples)
    spec = (x @ analysis_matrix(cfg)).reshape(2, cfg.bins, cfg.frames)
    k = 5
    start = cfg.first + k * cfg.hop
    frame = np.array([x[s] if 0 <= s < cfg.samples else 0.0 for s in range(start, start + cfg.n_fft)])
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(cfg.n_fft) / cfg.n_fft)
    ref = np.fft.rfft(frame * hann)
    np.testing.assert_allclose(spec[0, :, k], ref.real, atol=1e-9)
    np.testing.assert_allclose(spec[1, :, k], ref.imag, atol=1e-9)


def test_a_framing_that_skips_samples_is_refused():
    with pytest.raises(ValueError, match="loses information"):
        Framing(6, FramingConfig(n_fft=8, hop=16, frames=8, first=0))


def test_each_sensors_schedule_reaches_its_planes():
    cfg = ScheduleConfig(steps=100, beta_start={"acc": 1e-3, "gyro": 1e-4}, beta_end={"acc": 0.05, "gyro": 0.01})
    sensors = plane_sensors(CHANNELS)
    assert sensors == ["acc"] * 6 + ["gyro"] * 6  # real+imag planes of acc_x..acc_z, then gyro_x..gyro_z
    s = NoiseSchedule.linear(cfg, sensors)
    acc = torch.cumprod(1 - torch.linspace(1e-3, 0.05, 100, dtype=torch.float64), 0)
    gyro = torch.cumprod(1 - torch.linspace(1e-4, 0.01, 100, dtype=torch.float64), 0)
    for p in range(12):
        torch.testing.assert_close(s.alphas_cumprod[:, p], acc if p < 6 else gyro)
    # and add_noise applies each plane's own alpha: a zero signal with unit noise gives sigma per plane
    sched = DDIMScheduler(s)
    noisy = sched.add_noise(torch.zeros(1, 12, 2, 2), torch.ones(1, 12, 2, 2), torch.tensor([50]))
    torch.testing.assert_close(noisy[0, :, 0, 0].double(), (1 - s.alphas_cumprod[50]).sqrt(), rtol=1e-6, atol=1e-6)
    # a model's planes follow its channels: gyro-only windows get the gyro schedule on every plane
    m = DiffusionModel(DiffusionConfig(channels=("gyro_x", "gyro_y"), class_names=("a",),
                                       schedule=cfg, base=8, mults=(1,), attention=False))
    torch.testing.assert_close(m.schedule.alphas_cumprod[:, 0], gyro)


def test_trailing_timesteps_start_from_pure_noise():
    assert trailing_timesteps(1000, 1) == [999]
    assert trailing_timesteps(1000, 4) == [999, 749, 499, 249]
    assert trailing_timesteps(1000, 8)[::2] == trailing_timesteps(1000, 4)  # a student's steps are every other
    with pytest.raises(ValueError):
        trailing_timesteps(1000, 0)


def _schedule():
    return NoiseSchedule.linear(ScheduleConfig(steps=50), ["acc", "acc", "gyro", "gyro"])


def test_ddim_step_matches_the_closed_form():
    s = _schedule()
    sched = DDIMScheduler(s)
    sched.set_timesteps(5)
    assert sched.timesteps == [49, 39, 29, 19, 9]
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(2, 4, 3, 3, generator=g), torch.randn(2, 4, 3, 3, generator=g)
    t, prev = 29, 19
    ab, abp = s.alphas_cumprod[t].float().view(1, -1, 1, 1), s.alphas_cumprod[prev].float().view(1, -1, 1, 1)
    xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    v = ab.sqrt() * eps - (1 - ab).sqrt() * x0  # the exact v: the step must land on q(x_prev | x0) with the same eps
    torch.testing.assert_close(sched.step(v, t, xt), abp.sqrt() * x0 + (1 - abp).sqrt() * eps, rtol=1e-5, atol=1e-5)
    # the last step returns x0 itself
    ab9 = s.alphas_cumprod[9].float().view(1, -1, 1, 1)
    x9 = ab9.sqrt() * x0 + (1 - ab9).sqrt() * eps
    torch.testing.assert_close(sched.step(ab9.sqrt() * eps - (1 - ab9).sqrt() * x0, 9, x9), x0, rtol=1e-5, atol=1e-5)


def test_ddpm_step_is_the_posterior_mean_plus_its_variance():
    s = _schedule()
    sched = DDPMScheduler(s)
    assert len(sched.timesteps) == 50 and sched.timesteps[0] == 49 and sched.timesteps[-1] == 0
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(1, 4, 3, 3, generator=g), torch.randn(1, 4, 3, 3, generator=g)
    t = 30
    ab = s.alphas_cumprod[t].view(1, -1, 1, 1)
    abp = s.alphas_cumprod[t - 1].view(1, -1, 1, 1)
    beta = 1 - ab / abp
    xt = (ab.sqrt() * x0 + (1 - ab).sqrt() * eps).float()
    v = (ab.sqrt() * eps - (1 - ab).sqrt() * x0).float()
    mean = abp.sqrt() * beta / (1 - ab) * x0 + (1 - beta).sqrt() * (1 - abp) / (1 - ab) * xt.double()
    var = beta * (1 - abp) / (1 - ab)
    z = torch.randn(xt.shape, generator=torch.Generator().manual_seed(7))
    out = sched.step(v, t, xt, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(out.double(), mean + var.sqrt() * z.double(), rtol=1e-4, atol=1e-5)


def test_guidance_mixing():
    c, u = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 1.0])
    torch.testing.assert_close(mix_guidance(c, u, 1.0), c)
    torch.testing.assert_close(mix_guidance(c, u, 0.0), u)
    torch.testing.assert_close(mix_guidance(c, u, 3.0), torch.tensor([4.0, -5.0]))
    for bad in (-0.5, 11.0, float("nan")):
        with pytest.raises(ValueError, match="guidance weight"):
            check_guidance(bad)


def test_guided_prediction_uses_the_null_class_for_the_unconditional_half():
    m = DiffusionModel(DiffusionConfig(class_names=("a", "b"), base=32, mults=(1,), attention=False)).eval()
    for p in m.unet.parameters():  # non-zero output layer, so classes matter
        torch.nn.init.normal_(p, std=0.1)
    z = torch.randn(3, 12, 16, 32)
    t = torch.full((3,), 500)
    y = torch.tensor([0, 1, 0])
    with torch.no_grad():
        cond, uncond = m(z, t, y), m(z, t, torch.full_like(y, m.null_class))
        assert (cond - uncond).abs().max() > 1e-3  # the class matters, so mixing the wrong halves shows
        torch.testing.assert_close(m.guided(z, t, y, 2.5), uncond + 2.5 * (cond - uncond), rtol=1e-4, atol=1e-5)
