"""Spectrogram: scipy parity, shapes, colour mapping, exportability."""
import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F

from imuedge.spectrogram import Spectrogram, SpectrogramConfig, band_blocks, bilinear_matrix
from imuedge.window import CHANNELS

TOL = 1e-4


def scipy_log_magnitude(x: np.ndarray, cfg: SpectrogramConfig) -> np.ndarray:
    _, _, z = scipy.signal.stft(x.astype(np.float64), nperseg=cfg.n_fft, noverlap=cfg.n_fft - cfg.hop,
                                nfft=cfg.n_fft, window=cfg.window, detrend=False, return_onesided=True,
                                boundary=None, padded=False, scaling="spectrum", axis=-1)
    return np.log(cfg.log_eps + np.abs(z))


def assert_parity(x: np.ndarray, cfg: SpectrogramConfig, channels=CHANNELS):
    got = Spectrogram(channels, cfg).log_magnitude(torch.from_numpy(x)).numpy()
    want = scipy_log_magnitude(x, cfg)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= TOL


@pytest.fixture(scope="module")
def hapt_windows():
    try:
        from imuedge.data.hapt import load_hapt
        ds = load_hapt()
    except Exception as e:  # archive not installed
        pytest.skip(f"HAPT not available: {e}")
    rng = np.random.default_rng(0)
    windows = [r.data[:, s:s + 128] for r in ds.recordings[::3]
               for s in rng.integers(0, r.num_samples - 128, 8)]
    return np.stack(windows).astype(np.float32), ds.channels


def test_scipy_parity_on_real_windows(hapt_windows):
    x, channels = hapt_windows
    assert_parity(x, SpectrogramConfig(), channels)


def test_scipy_parity_on_chirp_with_gravity_offset():
    t = np.arange(128) / 50.0
    chirp = scipy.signal.chirp(t, f0=0.5, f1=20.0, t1=t[-1])
    x = np.stack([9.81 + 15 * chirp, 3 * chirp ** 2, -9.81 + 0 * t, 5 * np.sin(7 * t), 1e-3 * t, 0 * t])
    x = np.stack([x, -x]).astype(np.float32)
    assert_parity(x, SpectrogramConfig())
    assert_parity(x, SpectrogramConfig(n_fft=64, hop=4, window="hamming"))


def test_output_shape_and_per_image_standardisation():
    sp = Spectrogram(config=SpectrogramConfig(normalization="image"))
    out = sp(torch.randn(4, 6, 128))
    assert out.shape == (4, 2, 3, 96, 128)
    assert sp.sensors == ("acc", "gyro")
    assert torch.allclose(out.mean(dim=(-2, -1)), torch.zeros(4, 2, 3), atol=1e-4)
    assert torch.allclose(out.std(dim=(-2, -1), unbiased=False), torch.ones(4, 2, 3), atol=1e-3)


def test_axes_become_rgb_and_missing_axes_are_zero():
    x = torch.zeros(1, 6, 128)
    x[0, 4] = torch.sin(torch.arange(128) * 1.3)  # only gyro_y moves
    images = Spectrogram(config=SpectrogramConfig(normalization="image"))(x)
    assert images[0, 1, 1].abs().sum() > 0  # gyro image, G channel
    assert images[0, 1, [0, 2]].abs().max() < 1e-3  # constant axes normalise to ~zero
    assert images[0, 0].abs().max() < 1e-3
    sp = Spectrogram(("acc_x", "acc_z"))
    out = sp(torch.randn(2, 2, 128))
    assert out.shape == (2, 1, 3, 96, 128)
    assert out[:, 0, 1].abs().max() == 0  # acc_y missing -> green is zero
    assert out[:, 0, 0].abs().sum() > 0 and out[:, 0, 2].abs().sum() > 0


def test_full_sensors_take_the_reshape_path_with_the_same_images():
    sp = Spectrogram()
    assert sp.rgb_is_reshape and not Spectrogram(("acc_x", "acc_z")).rgb_is_reshape
    per_axis = torch.randn(2, 6, 96, 128)
    fast = sp.to_rgb(per_axis)
    sp.rgb_is_reshape = False  # the general path: one plane at a time
    assert torch.equal(fast, sp.to_rgb(per_axis))
    assert torch.equal(fast[1, 1, 2], per_axis[1, 5])  # gyro_z -> gyro image, blue


def test_dataset_normalisation_uses_training_statistics_and_keeps_levels():
    torch.manual_seed(0)
    train = torch.randn(64, 6, 128)
    train[:, 2] += 9.81  # gravity on acc_z
    sp = Spectrogram()
    sp.fit_normalization(train)
    spec = sp.log_magnitude(train)
    z = (spec - sp.axis_mean) / sp.axis_std
    assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(6), atol=1e-4)
    assert torch.allclose(z.std(dim=(0, 2, 3), unbiased=False), torch.ones(6), atol=1e-3)
    # fixed statistics: a window with gravity on acc_x instead of acc_z looks different
    # (per-image standardisation would make both axes look alike)
    lying = train[:1].clone()
    lying[:, [0, 2]] = lying[:, [2, 0]]
    a, b = sp(train[:1]), sp(lying)
    assert (a[0, 0, 0].mean() - b[0, 0, 0].mean()).abs() > 0.5
    # the statistics travel in the state dict (so in checkpoints and exported graphs)
    assert {"axis_mean", "axis_std"} <= set(sp.state_dict())


def test_resize_matches_bilinear_interpolate():
    spec = torch.randn(3, 17, 49, dtype=torch.float64)
    rh, rw = torch.tensor(bilinear_matrix(17, 96)), torch.tensor(bilinear_matrix(49, 128))
    want = F.interpolate(spec[None], size=(96, 128), mode="bilinear", align_corners=False)[0]
    assert torch.allclose(rh @ spec @ rw.T, want, atol=1e-12)


@pytest.mark.parametrize("batch", [1, 3])
def test_banded_resize_equals_the_dense_product(batch):
    """One window takes the banded bmm path, a batch the broadcast matmul: both are R_h @ S @ R_w^T."""
    sp = Spectrogram()
    spec = torch.randn(batch, 6, 17, 49)
    dense = torch.matmul(sp.resize_h, torch.matmul(spec, sp.resize_w_t))
    torch.testing.assert_close(sp.resize(spec), dense, atol=1e-6, rtol=0)


@pytest.mark.parametrize("n_out,n_in,n_blocks", [(96, 17, 4), (96, 17, 3), (128, 49, 4), (96, 17, 5), (10, 10, 1)])
def test_band_blocks_rebuild_the_matrix(n_out, n_in, n_blocks):
    m = bilinear_matrix(n_in, n_out)[::-1].copy()
    starts, blocks = band_blocks(m, n_blocks)
    n = len(starts)  # 5 does not divide 96: one dense block
    assert n == (n_blocks if n_out % n_blocks == 0 else 1) and blocks.shape[0] == n
    rebuilt = np.zeros_like(m)
    rows = n_out // n
    for b, s in enumerate(starts):
        rebuilt[b * rows:(b + 1) * rows, s:s + blocks.shape[2]] = blocks[b]
    np.testing.assert_array_equal(rebuilt, m)  # nothing outside the blocks was dropped
    if n > 1:
        assert blocks.shape[2] < n_in


def test_exported_window_has_no_expand_outside_matmuls():
    """ExecuTorch runs ``expand`` as a portable kernel between XNNPACK delegates: the exported shape has none."""
    program = torch.export.export(Spectrogram().eval(), (torch.randn(1, 6, 128),)).run_decompositions({})
    ops = [str(n.target) for n in program.graph.nodes if n.op == "call_function"]
    assert not [op for op in ops if "expand" in op], ops
    assert any("bmm" in op for op in ops), ops


def test_low_frequency_on_bottom_row():
    x = torch.zeros(1, 6, 128)
    x[0, 0] = 5.0 + 0.01 * torch.randn(128)  # DC dominates acc_x
    image = Spectrogram()(x)[0, 0, 0]
    assert image[-1].mean() > image[0].mean()


def test_wrong_input_shape_is_explained():
    with pytest.raises(ValueError, match="expects"):
        Spectrogram()(torch.randn(2, 3, 128))


def test_exports_without_stft_or_complex_ops():
    sp = Spectrogram().eval()
    program = torch.export.export(sp, (torch.randn(2, 6, 128),))
    ops = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
    assert not [op for op in ops if "stft" in op or "fft" in op or "complex" in op or "interpolate" in op
                or "upsample" in op], ops
    for n in program.graph.nodes:
        val = n.meta.get("val")
        if isinstance(val, torch.Tensor):
            assert not val.is_complex(), n


def test_zero_sine_kernels_are_left_out_and_old_state_dicts_still_load():
    """k = 0 and k = n_fft/2 have no sine part: 32 conv kernels, not 34. A state dict from before (all 34) loads."""
    from imuedge.spectrogram import dft_kernels

    sp = Spectrogram()
    assert sp.dft_weight.shape[0] == 32
    full = torch.tensor(dft_kernels(32, "hann"), dtype=torch.float32)
    x = 3 * torch.randn(2, 6, 128)
    re, im = sp.stft(x)
    spec = F.conv1d(x.reshape(12, 1, 128), full, stride=2)
    torch.testing.assert_close(re.reshape(12, 17, -1), spec[:, :17], atol=1e-6, rtol=0)
    torch.testing.assert_close(im.reshape(12, 17, -1), spec[:, 17:], atol=1e-6, rtol=0)
    old = {**sp.state_dict(), "dft_weight": full}
    again = Spectrogram()
    again.load_state_dict(old)
    torch.testing.assert_close(again(x), sp(x))


def test_power_equals_the_squared_stft_and_a_silent_window_has_a_finite_gradient():
    sp = Spectrogram()
    x = 3 * torch.randn(2, 6, 128)
    re, im = sp.stft(x)
    torch.testing.assert_close(sp.power(x), re * re + im * im, atol=1e-5, rtol=1e-6)
    silent = torch.zeros(1, 6, 128, requires_grad=True)  # |X| = 0 everywhere: sqrt's slope is infinite there
    sp(silent).sum().backward()
    assert torch.isfinite(silent.grad).all()
