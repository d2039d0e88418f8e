"""The evaluation report's pieces that read no model: how much synthetic windows move against real ones."""
import numpy as np

from imuedge.train.diffusion.evaluate import markdown, motion, motion_vs_real


def windows(n, acc_std, gyro_std, seed):
    g = np.random.default_rng(seed)
    x = np.empty((n, 6, 128))
    x[:, :3] = np.array([9.8, 0.0, 0.0])[:, None] + g.normal(0, acc_std, (n, 3, 128))  # gravity is not motion
    x[:, 3:] = g.normal(0, gyro_std, (n, 3, 128))
    return x


def test_motion_is_each_windows_spread_about_its_own_mean_per_sensor():
    x = windows(4, 0.5, 0.1, 0)
    x[2:, :3] = x[2:, [2, 0, 1]]  # another posture: gravity on z
    m = motion(x)
    assert m.shape == (4, 2)
    np.testing.assert_allclose(m[:, 0], 0.5, rtol=0.1)
    np.testing.assert_allclose(m[:, 1], 0.1, rtol=0.1)


def test_motion_vs_real_is_synthetic_over_real_per_class_and_the_report_shows_it():
    real_x = np.concatenate([windows(20, 0.05, 0.01, 1), windows(20, 2.0, 0.5, 2)])
    real_y = np.repeat([0, 1], 20)
    synth_x = np.concatenate([windows(10, 0.5, 0.03, 3), windows(10, 2.0, 0.25, 4)])  # sitting 10x / 3x
    synth_y = np.repeat([0, 1], 10)
    ratios = motion_vs_real(real_x, real_y, synth_x, synth_y, ["sitting", "walking"])
    assert abs(ratios["sitting"]["acc"] - 10) < 0.5 and abs(ratios["sitting"]["gyro"] - 3) < 0.2
    assert abs(ratios["walking"]["acc"] - 1) < 0.05 and abs(ratios["walking"]["gyro"] - 0.5) < 0.03
    report = {"per_class": 10, "guidance": 1.5, "machine": "m", "TRTR_macro_f1": 0.8, "FD_real_train_vs_test": 1.0,
              "classes": ["sitting", "walking"],
              "samplers": {"teacher DDIM 4": {"network_evaluations_per_window": 8, "samples_per_second_1_thread": 9.0,
                                              "TSTR_macro_f1": 0.6, "TSTR_over_TRTR": 0.75,
                                              "discriminative_score": 0.4, "frechet_distance": None,
                                              "motion_vs_real": ratios}}}
    text = markdown(report)
    row = next(line for line in text.splitlines() if line.startswith("| teacher DDIM 4 |") and " / " in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == f"{ratios['sitting']['acc']:.2f} / {ratios['sitting']['gyro']:.2f}"
    assert cells[2] == f"{ratios['walking']['acc']:.2f} / {ratios['walking']['gyro']:.2f}"
    assert "| sampler | sitting | walking |" in text
