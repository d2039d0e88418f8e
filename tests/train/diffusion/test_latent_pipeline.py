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


def test_a_tflite_generators_manifest_names_the_class_id_dtype_the_file_takes(trained, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    _, _, latent_path = trained
    summary = export_student(latent_path, tmp_path / "b", formats=("tflite",), steps=1, log=lambda *a: None)
    assert summary["ok"], summary
    g = load_bundle(tmp_path / "b" / "tflite-fp32")
    inputs = Interpreter(model_path=str(g.artifact)).get_input_details()
    class_input = min(inputs, key=lambda d: len(d["shape"]))  # noise is 3-D, the class id 1-D
    # litert-torch writes the graph's int64 class id as int32: the manifest says what the file takes
    assert g.manifest["input"]["class_id"]["dtype"] == class_input["dtype"].__name__ == "int32"
    assert g.sample("walking", n=2, seed=5).shape == (2, 6, 128)


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


def test_the_latent_model_distils_into_few_step_students_that_export(trained, tmp_path):
    from imuedge.train.diffusion.distill import DistillConfig, distill, load_student, student_name

    _, _, latent_path = trained
    written = distill(DistillConfig(teacher=str(latent_path), out=str(tmp_path / "s"), start_steps=4, keep=(2, 1),
                                    iterations=3, batch_size=8), quiet=True)
    assert sorted(written) == [1, 2]
    student, ck = load_student(written[1])
    assert ck["teacher_kind"] == "latent_diffusion" and student_name(ck) == "latent student 1-step"
    assert student.steps == 1 and student.noise_shape == (4, 32) and student.guidance is None  # guidance folded in
    teacher, _ = load_latent(latent_path)
    # it decodes through the teacher's frozen VAE; only the denoiser was trained, from the teacher's weights
    assert torch.equal(student.decoder.space.decoder[-1].weight, teacher.vae.decoder[-1].weight)
    assert torch.equal(student.denoiser.inp.weight, ck["student"]["inp.weight"])
    assert not torch.equal(student.denoiser.inp.weight, teacher.transformer.inp.weight)
    assert (student.denoiser.inp.weight - teacher.transformer.inp.weight).abs().max() < 0.05
    noise, c = torch.randn(3, 4, 32, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 2, 5])
    with torch.no_grad():
        x = student(noise, c)
        assert x.shape == (3, 6, 128) and torch.equal(x, student(noise, c))  # deterministic for a given noise

    summary = export_student(written[1], tmp_path / "b", formats=("onnx",), log=lambda *a: None)
    assert summary["ok"], summary
    assert summary["results"]["onnx-fp32"]["parity"]["max_abs_error"] <= 1e-4
    g = load_bundle(tmp_path / "b" / "onnx-fp32")
    assert g.manifest["sampler"]["steps"] == 1 and "of the latent model" in g.manifest["sampler"]["method"]
    assert g.manifest["sampler"]["latent"] == [4, 32]
    np.testing.assert_allclose(g.sample("sitting", n=2, seed=4),
                               student(torch.from_numpy(g.noise(2, 4)), torch.full((2,), 3)).detach().numpy(),
                               atol=1e-4)


def test_distillation_reads_the_latent_models_own_training_windows(trained, tmp_path):
    from imuedge import checkpoint
    from imuedge.train.diffusion.distill import DistillConfig, distill, teacher_windows
    from imuedge.train.diffusion.latent_train import hapt_windows

    _, vae_path, latent_path = trained
    model, ck = load_latent(latent_path)
    x, y = teacher_windows(latent_path, ck, model)
    want_x, want_y = hapt_windows(0, (1, 3), 64)[:2]  # vae_config's subjects and hop
    assert np.array_equal(x, want_x.numpy()) and np.array_equal(y, want_y.numpy())
    # an older checkpoint without its windows record: they come from its VAE checkpoint, or a clear error
    old = {k: v for k, v in checkpoint.load(latent_path).items() if k != "windows"}
    assert np.array_equal(teacher_windows("old.pt", old, model)[0], want_x.numpy())
    old["train"] = {**old["train"], "config": {**old["train"]["config"], "vae": str(tmp_path / "gone.pt")}}
    with pytest.raises(ValueError, match="gone.pt, which is not there"):
        teacher_windows("old.pt", old, model)
    with pytest.raises(ValueError, match="distillation takes diffusion_teacher, latent_diffusion, vq_diffusion"):
        distill(DistillConfig(teacher=str(vae_path), out=str(tmp_path / "x")), quiet=True)
