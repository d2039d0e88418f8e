"""A tiny two-band VQ-VAE -> LF/HF priors -> cascade sampler -> .onnx generator bundle, with parity, on real HAPT."""
import numpy as np
import pytest
import torch

from imuedge.bundle import load_bundle
from imuedge.train.diffusion.distill import load_sampler
from imuedge.train.diffusion.export import export_student
from imuedge.train.diffusion.schedulers import ScheduleConfig
from imuedge.train.diffusion.vq_prior import VQPriorConfig
from imuedge.train.diffusion.vq_train import (VQPriorTrainConfig, VQVAETrainConfig, load_vq, load_vqvae,
                                              train_vqprior, train_vqvae)
from imuedge.train.diffusion.vqvae import VQVAEConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def vqvae_config(root, steps):
    return VQVAETrainConfig(out=str(root), steps=steps, batch_size=8, checkpoint_every=2, restart_every=3,
                            subjects=(1, 3), hop=64, vqvae=VQVAEConfig(width=8, codes=32))


def prior_config(root, vqvae, steps):
    return VQPriorTrainConfig(vqvae=str(vqvae), out=str(root), steps=steps, batch_size=8, checkpoint_every=2,
                              model=VQPriorConfig(width=16, depth=1, heads=2, halt=0.99,
                                                  schedule=ScheduleConfig(steps=100, beta_start={"latent": 1e-4},
                                                                          beta_end={"latent": 0.02})))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_thread):  # trained on one thread, as the tests that use it run
    root = tmp_path_factory.mktemp("vq")
    vqvae = train_vqvae(vqvae_config(root, 4), quiet=True)
    vq = train_vqprior(prior_config(root, vqvae, 4), quiet=True)
    return root, vqvae, vq


def test_both_stages_resume_from_their_last_checkpoint(trained, tmp_path, resumed_from):
    root, vqvae_path, vq_path = trained
    _, ck = load_vqvae(vqvae_path)
    assert ck["train"]["step"] == 4 and ck["codes_restarted"]["lf"] > 0  # the random codebook had dead codes
    # 4 steps + resume to 7 = 7 steps at once (weights, optimiser, RNG, code-use counts: a restart at step 6)
    fresh, _ = load_vqvae(train_vqvae(vqvae_config(tmp_path / "fresh", 7), quiet=True))
    again, ck = load_vqvae(train_vqvae(vqvae_config(resumed_from(root / "vqvae_last.pt", tmp_path / "a"), 7),
                                      quiet=True))
    assert ck["train"]["step"] == 7
    for name, tensor in fresh.state_dict().items():
        assert torch.equal(again.state_dict()[name], tensor), name
    edited = resumed_from(root / "vqvae_last.pt", tmp_path / "b", lambda st: st["used"]["hf"].add_(1))
    other, _ = load_vqvae(train_vqvae(vqvae_config(edited, 7), quiet=True))  # no HF code is dead at step 6 now
    assert not torch.equal(other.hf.vq.codebook, fresh.hf.vq.codebook)

    model, ck = load_vq(vq_path)
    assert ck["train"]["step"] == 4 and model.noise_shape == (8, 32) and model.config.halt == 0.99
    fresh, _ = load_vq(train_vqprior(prior_config(tmp_path / "pf", vqvae_path, 6), quiet=True))
    again, ck = load_vq(train_vqprior(prior_config(resumed_from(root / "vq_last.pt", tmp_path / "pa"),
                                                   vqvae_path, 6), quiet=True))
    assert ck["train"]["step"] == 6
    for prior in ("lf", "hf"):
        for name, tensor in getattr(fresh, prior).state_dict().items():
            assert torch.equal(getattr(again, prior).state_dict()[name], tensor), (prior, name)
    edited = resumed_from(root / "vq_last.pt", tmp_path / "pb", lambda st: st["model"]["hf.transformer.inp.weight"]
                          .mul_(2))
    other, _ = load_vq(train_vqprior(prior_config(edited, vqvae_path, 6), quiet=True))
    assert not torch.equal(other.hf.transformer.inp.weight, fresh.hf.transformer.inp.weight)


def test_checkpoints_of_the_wrong_kind_and_bad_settings_are_refused(trained, tmp_path, capsys):
    from imuedge.checkpoint import CheckpointError
    from imuedge.cli import main

    _, vqvae_path, vq_path = trained
    with pytest.raises(CheckpointError, match="not a VQ-VAE"):
        load_vqvae(vq_path)
    with pytest.raises(CheckpointError, match="not a VQ diffusion model"):
        load_vq(vqvae_path)
    with pytest.raises(CheckpointError, match="not a VQ-VAE"):
        train_vqprior(prior_config(tmp_path / "x", vq_path, 2), quiet=True)
    truncated = tmp_path / "vq_cut.pt"
    truncated.write_bytes(vq_path.read_bytes()[:1000])
    with pytest.raises(CheckpointError):
        load_vq(truncated)
    out = str(tmp_path / "o")
    for args, message in ((["vqprior", "--vqvae", str(vqvae_path), "--rescale", "1.5", "--out", out],
                           "--rescale must be in"),
                          (["vqprior", "--vqvae", str(vqvae_path), "--halt", "0", "--out", out], "--halt must be in"),
                          (["vqvae", "--steps", "0", "--out", out], "must be positive"),
                          (["export", "--generator", str(vqvae_path), "--out", out, "--formats", "onnx"],
                           "not a distilled student")):
        assert main(["diffusion", *args]) == 2, args
        assert message in capsys.readouterr().err, args


def test_vq_cascade_exports_to_onnx_with_fp32_parity(trained, tmp_path):
    _, _, vq_path = trained
    summary = export_student(vq_path, tmp_path / "b", formats=("onnx",), steps=3, guidance=2.0, log=lambda *a: None)
    assert summary["ok"], summary
    assert summary["results"]["onnx-fp32"]["parity"]["max_abs_error"] <= 1e-4
    g = load_bundle(tmp_path / "b" / "onnx-fp32")
    assert g.noise_shape == (8, 32) and g.manifest["sampler"]["steps"] == 3
    assert g.manifest["sampler"]["rescale"] == 0.7 and g.manifest["sampler"]["halt"] == 0.99
    x = g.sample("walking", n=2, seed=5)
    assert x.shape == (2, 6, 128) and np.array_equal(x, g.sample("walking", n=2, seed=5))
    sampler, _, _ = load_sampler(vq_path, steps=3, guidance=2.0)
    model, _ = load_vq(vq_path)
    noise = torch.from_numpy(g.noise(2, 5))
    with torch.no_grad():
        ref = sampler(noise, torch.zeros(2, dtype=torch.int64)).numpy()
        loop = model.sample(torch.zeros(2, dtype=torch.int64), "ddim", 3, 2.0, noise=noise).numpy()
    np.testing.assert_allclose(x, ref, atol=1e-4)
    np.testing.assert_allclose(loop, ref, atol=1e-4)  # the graph is the model's own cascade


def test_generate_writes_recordings_from_the_vq_checkpoint(trained, tmp_path):
    from imuedge.cli import main
    from imuedge.data import load_recordings

    _, _, vq_path = trained
    assert main(["generate", str(vq_path), "--class", "laying", "--n", "2", "--out", str(tmp_path / "s")]) == 0
    ds, errors = load_recordings(tmp_path / "s")
    assert errors == [] and len(list((tmp_path / "s").glob("*.csv"))) == 2


@pytest.mark.slow  # ExecuTorch and LiteRT conversion: minutes on a loaded 2-core machine
def test_vq_cascade_exports_with_fp32_parity_in_all_three_formats(trained, tmp_path):
    _, _, vq_path = trained
    summary = export_student(vq_path, tmp_path / "b", steps=3, guidance=2.0, log=lambda *a: None)
    assert summary["ok"], summary
    got = {}
    for fmt in ("onnx", "tflite", "pte"):
        assert summary["results"][f"{fmt}-fp32"]["parity"]["max_abs_error"] <= 1e-4
        got[fmt] = load_bundle(tmp_path / "b" / f"{fmt}-fp32").sample("laying", n=2, seed=1)
    np.testing.assert_allclose(got["onnx"], got["tflite"], atol=1e-4)
    np.testing.assert_allclose(got["onnx"], got["pte"], atol=1e-4)


def test_the_cascade_distils_both_chains_the_hf_one_on_the_real_lf_tokens(trained, tmp_path, monkeypatch):
    from imuedge.train.diffusion import distill as d
    from imuedge.train.diffusion.latent_train import hapt_windows

    _, _, vq_path = trained
    seen, real_round = [], d.distill_round

    def spy(teacher_v, student, schedule, z0_all, y_all, steps, cfg, gen, quiet=False, cond_all=None):
        seen.append((steps, z0_all, cond_all))
        return real_round(teacher_v, student, schedule, z0_all, y_all, steps, cfg, gen, quiet, cond_all)

    monkeypatch.setattr(d, "distill_round", spy)
    written = d.distill(d.DistillConfig(teacher=str(vq_path), out=str(tmp_path / "s"), start_steps=4, keep=(2, 1),
                                        iterations=2, batch_size=8), quiet=True)
    teacher, _ = load_vq(vq_path)
    with torch.no_grad():
        z_lf, z_hf = teacher.split(teacher.space.encode(hapt_windows(0, (1, 3), 64)[0]))
    # per round the LF chain (no condition), then the HF chain conditioned on the real LF tokens of its windows
    assert [(s, c is None) for s, _, c in seen] == [(4, True), (4, False), (2, True), (2, False)]
    assert torch.equal(seen[0][1], z_lf) and torch.equal(seen[1][1], z_hf) and torch.equal(seen[1][2], z_lf)

    student, ck = d.load_student(written[1])
    assert d.student_name(ck) == "VQ student 1-step" and student.steps == 1
    from imuedge.train.diffusion.evaluate import samplers

    assert samplers("", [str(written[1])], False, 1.5)["VQ student 1-step"][1] == 2  # an LF and an HF evaluation
    assert student.lf.guidance is None and student.hf.guidance is None  # guidance (rescaled) folded in
    assert torch.equal(student.hf.denoiser.inp.weight, ck["student"]["hf.inp.weight"])
    assert not torch.equal(student.hf.denoiser.inp.weight, teacher.hf.denoiser.inp.weight)
    noise, c = torch.randn(2, 8, 32, generator=torch.Generator().manual_seed(1)), torch.tensor([1, 4])
    other = noise.clone()
    other[:, :4] += 1.0  # another LF noise: the HF chain reads the LF chain's result
    with torch.no_grad():
        x = student(noise, c)
        assert torch.equal(x, student(noise, c)) and x.shape == (2, 6, 128)
        assert not torch.equal(student.hf.run(noise[:, 4:], c, cond=student.lf.run(other[:, :4], c)),
                               student.hf.run(noise[:, 4:], c, cond=student.lf.run(noise[:, :4], c)))

    summary = export_student(written[1], tmp_path / "b", formats=("onnx",), log=lambda *a: None)
    assert summary["ok"], summary
    assert summary["results"]["onnx-fp32"]["parity"]["max_abs_error"] <= 1e-4
    g = load_bundle(tmp_path / "b" / "onnx-fp32")
    assert "VQ cascade" in g.manifest["sampler"]["method"] and g.manifest["sampler"]["latent"] == [8, 32]
    np.testing.assert_allclose(g.sample("walking", n=2, seed=3),
                               student(torch.from_numpy(g.noise(2, 3)), torch.zeros(2, dtype=torch.int64))
                               .detach().numpy(), atol=1e-4)
    with pytest.raises(ValueError, match="does not resume"):
        d.distill(d.DistillConfig(teacher=str(vq_path), out=str(tmp_path / "s"), resume=str(written[2])), quiet=True)


def test_both_stages_train_on_windows_given_in_code_and_the_priors_fine_tune_from_init(trained, tmp_path):
    from imuedge import checkpoint
    from imuedge.train.diffusion.distill import DistillConfig, distill, teacher_windows
    from imuedge.train.diffusion.latent_train import hapt_windows

    _, vqvae_path, vq_path = trained
    x, y, names, channels, _ = hapt_windows(0, (1, 3), 64)
    null = torch.full_like(y, len(names))  # unlabelled: every window the null class
    mine = train_vqvae(vqvae_config(tmp_path / "v", 2), quiet=True, windows=(x[:40], y[:40], names, channels, "mine"))
    assert checkpoint.load(mine)["windows"] is None  # not a HAPT split: nothing to read the windows back from
    pre = train_vqprior(prior_config(tmp_path / "p", mine, 2), quiet=True, windows=(x, null, names, channels, "u"))
    model, ck = load_vq(pre)
    assert ck["windows"] is None and load_vq(vq_path)[1]["windows"] == {"split_seed": 0, "subjects": [1, 3], "hop": 64}
    with pytest.raises(ValueError, match="distil it on the same windows"):
        teacher_windows(pre, ck, model)
    # fine-tuning with a zero learning rate keeps the pretrained priors exactly: they are where it starts
    cfg = prior_config(tmp_path / "f", mine, 2)
    cfg.lr = 0.0
    fine, _ = load_vq(train_vqprior(cfg, quiet=True, windows=(x[:12], y[:12], names, channels, "12"), init=str(pre)))
    for prior in ("lf", "hf"):
        for name, tensor in getattr(model, prior).state_dict().items():
            assert torch.equal(getattr(fine, prior).state_dict()[name], tensor), name
    with pytest.raises(ValueError, match="of another VQ-VAE"):
        train_vqprior(prior_config(tmp_path / "g", vqvae_path, 2), quiet=True, init=str(pre))
    with pytest.raises(ValueError, match="a VQ-VAE trained on windows given in code"):
        train_vqprior(prior_config(tmp_path / "h", mine, 2), quiet=True)
    students = distill(DistillConfig(teacher=str(pre), out=str(tmp_path / "s"), start_steps=2, keep=(1,),
                                     iterations=1, batch_size=8), quiet=True, windows=(x[:12].numpy(), y[:12].numpy()))
    assert students[1].exists()


def test_int8_keeps_the_decoder_and_each_denoisers_first_and_last_layer_float(trained):
    from imuedge.train.diffusion.distill import load_sampler
    from imuedge.train.diffusion.export import float_modules
    from imuedge.train.diffusion.vq_prior import CascadeSampler

    cascade = CascadeSampler(load_vq(trained[2])[0], steps=2)
    assert set(float_modules(cascade)) == {"decoder", "lf.denoiser.inp", "lf.denoiser.out", "hf.denoiser.inp",
                                           "hf.denoiser.out"}
    latent = load_sampler("train/weights/latent_student_1.pt")[0]  # a transformer: inp, out
    stft = load_sampler("train/weights/diffusion_student_1.pt")[0]  # a UNet: stem, out (not its blocks' "out"s)
    assert float_modules(latent) == ("decoder", "denoiser.inp", "denoiser.out")
    assert float_modules(stft) == ("decoder", "denoiser.stem", "denoiser.out")
    for sampler in (cascade, latent, stft):
        for name in float_modules(sampler):
            sampler.get_submodule(name)
