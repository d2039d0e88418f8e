"""A tiny VAE -> latent diffusion -> unrolled sampler -> .onnx generator bundle, with parity, on real HAPT."""
import numpy as np
import pytest
import torch

from imuedge.bundle import load_bundle
from imuedge.train.diffusion.adaptive_beta import AdaptiveBetaConfig
from imuedge.train.diffusion.distill import load_sampler
from imuedge.train.diffusion.export import export_student
from imuedge.train.diffusion.latent import LatentConfig
from imuedge.train.diffusion.latent_train import (LatentTrainConfig, VAETrainConfig, load_latent, load_vae,
                                                  train_latent, train_vae)
from imuedge.train.diffusion.schedulers import ScheduleConfig
from imuedge.train.diffusion.vae import VAEConfig


pytestmark = pytest.mark.usefixtures("one_thread")


def vae_config(root, steps):
    return VAETrainConfig(out=str(root), steps=steps, batch_size=8, checkpoint_every=2, subjects=(1, 3), hop=64,
                          vae=VAEConfig(width=8), beta=AdaptiveBetaConfig(patience=1, smoothing=0.0))


def latent_config(root, vae, steps):
    return LatentTrainConfig(vae=str(vae), out=str(root), steps=steps, batch_size=8, checkpoint_every=2,
                             model=LatentConfig(width=16, depth=1, heads=2,
                                                schedule=ScheduleConfig(steps=100, beta_start={"latent": 1e-4},
                                                                        beta_end={"latent": 0.02})))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_thread):  # trained on one thread, as the tests that use it run
    root = tmp_path_factory.mktemp("ldm")
    vae = train_vae(vae_config(root, 4), quiet=True)
    latent = train_latent(latent_config(root, vae, 4), quiet=True)
    return root, vae, latent


def test_both_stages_resume_from_their_last_checkpoint(trained, tmp_path, resumed_from):
    root, vae_path, latent_path = trained
    _, ck = load_vae(vae_path)
    assert ck["train"]["step"] == 4 and ck["beta"]["value"] < 1e-2  # patience 1 on 4 noisy steps: decayed
    fresh, _ = load_vae(train_vae(vae_config(tmp_path / "fresh", 6), quiet=True))
    # 4 steps + resume to 6 = 6 steps at once (weights, optimiser, RNG, beta carried over) ...
    again, ck = load_vae(train_vae(vae_config(resumed_from(root / "vae_last.pt", tmp_path / "a"), 6), quiet=True))
    assert ck["train"]["step"] == 6 and torch.equal(again.decoder[-1].weight, fresh.decoder[-1].weight)
    # ... and it is the checkpoint that carries them: a changed one gives other weights
    edited = resumed_from(root / "vae_last.pt", tmp_path / "b",
                          lambda st: st["model"]["decoder.0.weight"].mul_(2))
    other, _ = load_vae(train_vae(vae_config(edited, 6), quiet=True))
    assert not torch.equal(other.decoder[-1].weight, fresh.decoder[-1].weight)

    model, ck = load_latent(latent_path)
    assert ck["train"]["step"] == 4 and model.noise_shape == (4, 32)
    assert model.config.class_names[0] == "walking"
    fresh, _ = load_latent(train_latent(latent_config(tmp_path / "lf", vae_path, 6), quiet=True))
    again, ck = load_latent(train_latent(latent_config(resumed_from(root / "latent_last.pt", tmp_path / "la"),
                                                       vae_path, 6), quiet=True))
    assert ck["train"]["step"] == 6 and torch.equal(again.transformer.inp.weight, fresh.transformer.inp.weight)
    edited = resumed_from(root / "latent_last.pt", tmp_path / "lb", lambda st: st["model"]["inp.weight"].mul_(2))
    other, _ = load_latent(train_latent(latent_config(edited, vae_path, 6), quiet=True))
    assert not torch.equal(other.transformer.inp.weight, fresh.transformer.inp.weight)


def test_a_checkpoint_of_the_wrong_stage_is_refused(trained):
    from imuedge.checkpoint import CheckpointError

    _, vae_path, latent_path = trained
    with pytest.raises(CheckpointError, match="not a VAE"):
        load_vae(latent_path)
    with pytest.raises(CheckpointError, match="not a latent diffusion model"):
        load_latent(vae_path)
    with pytest.raises(ValueError, match="--steps and --guidance"):
        load_sampler(vae_path, steps=4)


def test_latent_sampler_exports_to_onnx_with_fp32_parity(trained, tmp_path):
    _, _, latent_path = trained
    summary = export_student(latent_path, tmp_path / "b", formats=("onnx",), steps=3, guidance=2.0,
                             log=lambda *a: None)
    assert summary["ok"], summary
    assert summary["results"]["onnx-fp32"]["parity"]["max_abs_error"] <= 1e-4
    g = load_bundle(tmp_path / "b" / "onnx-fp32")
    assert g.noise_shape == (4, 32) and g.manifest["sampler"]["steps"] == 3
    assert g.manifest["sampler"]["guidance"] == 2.0
    x = g.sample("walking", n=2, seed=5)
    assert x.shape == (2, 6, 128) and np.array_equal(x, g.sample("walking", n=2, seed=5))
    sampler, _, _ = load_sampler(latent_path, steps=3, guidance=2.0)
    with torch.no_grad():
        ref = sampler(torch.from_numpy(g.noise(2, 5)), torch.zeros(2, dtype=torch.int64)).numpy()
    np.testing.assert_allclose(x, ref, atol=1e-4)


@pytest.mark.slow  # ExecuTorch and LiteRT conversion: minutes on a loaded 2-core machine
def test_latent_sampler_exports_with_fp32_parity_in_all_three_formats(trained, tmp_path):
    _, _, latent_path = trained
    summary = export_student(latent_path, tmp_path / "b", steps=3, guidance=2.0, log=lambda *a: None)
    assert summary["ok"], summary
    got = {}
    for fmt in ("onnx", "tflite", "pte"):
        assert summary["results"][f"{fmt}-fp32"]["parity"]["max_abs_error"] <= 1e-4
        got[fmt] = load_bundle(tmp_path / "b" / f"{fmt}-fp32").sample("laying", n=2, seed=1)
    np.testing.assert_allclose(got["onnx"], got["tflite"], atol=1e-4)
    np.testing.assert_allclose(got["onnx"], got["pte"], atol=1e-4)


def test_generate_and_the_commands_take_the_latent_model(trained, tmp_path, capsys):
    from imuedge.cli import main
    from imuedge.data import load_recordings

    root, vae_path, latent_path = trained
    assert main(["generate", str(latent_path), "--class", "laying", "--n", "2", "--out", str(tmp_path / "s")]) == 0
    ds, errors = load_recordings(tmp_path / "s")
    assert errors == [] and len(list((tmp_path / "s").glob("*.csv"))) == 2
    assert main(["diffusion", "export", "--generator", str(vae_path), "--out", str(tmp_path / "e"),
                 "--formats", "onnx"]) == 2
    assert "not a distilled student" in capsys.readouterr().err
    assert main(["diffusion", "vae", "--out", str(tmp_path / "v"), "--steps", "0"]) == 2
    assert "must be positive" in capsys.readouterr().err
