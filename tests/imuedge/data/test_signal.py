"""Resampling is anti-aliased and keeps labels aligned; filters are zero-phase."""
import numpy as np
import pytest

from imuedge.data import Recording, gravity_split, lowpass, resample, resample_labels, resample_recording
from imuedge.data.signal import body_acceleration, resample_ratio


def tone(freq, rate, seconds=4.0, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    return np.tile(np.sin(2 * np.pi * freq * t), (channels, 1))


def rms(x):
    return float(np.sqrt(np.mean(np.square(x))))


def test_resample_length_and_ratio():
    assert resample_ratio(100, 50) == (1, 2)
    assert resample_ratio(52, 50) == (25, 26)
    x = np.zeros((3, 1000), np.float32)
    assert resample(x, 100, 50).shape == (3, 500)
    assert resample(x, 50, 100).shape == (3, 2000)
    assert resample(x, 52, 50).shape == (3, 962)  # ceil(1000 * 25 / 26)
    assert resample(x, 100, 50).dtype == np.float32


def test_resample_keeps_in_band_tones_and_attenuates_aliases():
    kept = resample(tone(5, 100), 100, 50)  # 5 Hz < 25 Hz new Nyquist
    folded = resample(tone(40, 100), 100, 50)  # 40 Hz would alias to 10 Hz
    inner = slice(20, -20)
    assert rms(kept[:, inner]) == pytest.approx(rms(tone(5, 50)), rel=0.02)
    assert rms(folded[:, inner]) < 0.01 * rms(tone(40, 100))  # > 40 dB down


def test_resample_keeps_a_constant_at_the_edges():
    gravity = np.full((1, 300), 9.8)
    np.testing.assert_allclose(resample(gravity, 50, 30), 9.8, rtol=1e-3)  # zero padding would droop


def test_labels_follow_the_nearest_sample():
    labels = np.repeat([0, 1, 2], 50)
    out = resample_labels(labels, 100, 50)
    assert out.tolist() == [0] * 25 + [1] * 25 + [2] * 25
    rec = Recording(tone(2, 100, 1.5, 3), labels, ("acc_x", "acc_y", "acc_z"), 100.0, 1, "r")
    half = resample_recording(rec, 50)
    assert half.sample_rate_hz == 50.0 and half.num_samples == 75 and half.labels.shape == (75,)


def test_lowpass_is_zero_phase():
    slow, fast = tone(1, 50, 10), tone(15, 50, 10)
    out = lowpass(slow + fast, 50, cutoff_hz=5)
    inner = slice(50, -50)
    np.testing.assert_allclose(out[:, inner], slow[:, inner], atol=0.02)  # no delay, fast tone gone
    lags = np.correlate(out[0, inner], slow[0, inner], "full")
    assert np.argmax(lags) == out[0, inner].size - 1  # best alignment at lag 0


def test_lowpass_checks_the_cutoff_and_handles_short_input():
    with pytest.raises(ValueError, match="Nyquist"):
        lowpass(np.zeros((1, 100)), 50, 30)
    assert lowpass(np.ones((2, 5)), 50, 5).shape == (2, 5)


def test_gravity_split_separates_posture_from_motion():
    acc = 9.8 + tone(3, 50, 20)
    gravity, body = gravity_split(acc, 50)
    inner = slice(250, -250)
    np.testing.assert_allclose(gravity[:, inner], 9.8, atol=0.05)
    np.testing.assert_allclose(body + gravity, acc)
    rec = Recording(np.vstack([acc, acc]), np.zeros(acc.shape[1]), ("acc_z", "gyro_x"), 50.0, 1, "r")
    out = body_acceleration(rec)
    assert abs(out.data[0, inner].mean()) < 0.05 and out.data[1].mean() == pytest.approx(9.8, abs=1e-3)
