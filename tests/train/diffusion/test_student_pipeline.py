"""A tiny teacher -> 1-step student -> .onnx / .tflite / .pte generator bundles, with parity, on real HAPT."""
import numpy as np
import pytest
import torch

from imuedge.bundle import load_bundle
from imuedge.train.diffusion.distill import DistillConfig, distill, load_student
from imuedge.train.diffusion.export import export_student
from imuedge.train.diffusion.model import DiffusionConfig
from imuedge.train.diffusion.schedulers import ScheduleConfig
from imuedge.train.diffusion.train import TrainConfig, load_diffusion, train


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    cfg = TrainConfig(out=str(root / "teacher"), steps=4, batch_size=8, checkpoint_every=2, device="cpu",
                      subjects=(1, 3), hop=64,
                      model=DiffusionConfig(base=8, mults=(1, 2), attention=False,
                                            schedule=ScheduleConfig(steps=100)))
    teacher = train(cfg, quiet=True)
    paths = distill(DistillConfig(teacher=str(teacher), out=str(root / "student"), start_steps=2, keep=(1,),
                                  iterations=2, batch_size=4), quiet=True)
    return root, teacher, paths[1]


def test_training_resumes_from_its_last_checkpoint(student):
    root, teacher, _ = student
    model, ckpt = load_diffusion(teacher)
    assert ckpt["train"]["step"] == 4 and (root / "teacher" / "last.pt").is_file()
    cfg = TrainConfig(out=str(root / "teacher"), steps=6, batch_size=8, checkpoint_every=2, device="cpu",
                      subjects=(1, 3), hop=64,
                      model=DiffusionConfig(base=8, mults=(1, 2), attention=False,
                                            schedule=ScheduleConfig(steps=100)))
    _, again = load_diffusion(train(cfg, quiet=True))
    assert again["train"]["step"] == 6  # went on from step 4, did not start over
    assert set(model.config.class_names) == {"walking", "walking_upstairs", "walking_downstairs", "sitting",
                                             "standing", "laying"}


def test_unrolled_student_is_deterministic_for_given_noise(student):
    _, _, path = student
    sampler, _ = load_student(path)
    z = torch.randn(3, *sampler.noise_shape, generator=torch.Generator().manual_seed(0))
    c = torch.tensor([0, 2, 5])
    with torch.no_grad():
        a, b = sampler(z, c), sampler(z.clone(), c.clone())
        other = sampler(z + 0.5, c)
    assert a.shape == (3, 6, 128)
    assert torch.equal(a, b)
    assert not torch.allclose(a, other)


def test_student_exports_to_onnx_with_fp32_parity_and_refuses_bad_input(student, tmp_path):
    _, _, path = student
    summary = export_student(path, tmp_path / "bundles", formats=("onnx",), log=lambda *a: None)
    assert summary["ok"], summary
    assert summary["results"]["onnx-fp32"]["parity"]["max_abs_error"] <= 1e-4
    g = load_bundle(tmp_path / "bundles" / "onnx-fp32")
    assert g.class_names[0] == "walking" and g.manifest["sampler"]["steps"] == 1
    x = g.sample("walking", n=2, seed=3)
    assert x.shape == (2, 6, 128) and np.array_equal(g.sample("walking", n=2, seed=3), x)
    with pytest.raises(ValueError, match="unknown class 'flying'"):
        g.sample("flying", 1)
    with pytest.raises(ValueError, match="noise of shape"):
        g.generate(np.zeros((1, 12, 16, 31), np.float32), np.zeros(1, np.int64))
    with pytest.raises(ValueError, match="out of range"):
        g.generate(g.noise(1, 0), np.array([6]))
    with pytest.raises(ValueError, match="NaN"):
        g.generate(np.full((1, 12, 16, 32), np.nan, np.float32), np.zeros(1, np.int64))


@pytest.mark.slow  # ~4 min on a loaded 2-core machine (ExecuTorch and LiteRT conversion)
def test_student_exports_with_fp32_parity_in_all_three_formats(student, tmp_path):
    _, _, path = student
    summary = export_student(path, tmp_path / "bundles", log=lambda *a: None)
    assert summary["ok"], summary
    results = {}
    for fmt in ("onnx", "tflite", "pte"):
        r = summary["results"][f"{fmt}-fp32"]
        assert r["parity"]["max_abs_error"] <= 1e-4
        g = load_bundle(tmp_path / "bundles" / f"{fmt}-fp32")
        results[fmt] = g.sample("walking", n=2, seed=3)
        assert results[fmt].shape == (2, 6, 128)
        assert np.array_equal(g.sample("walking", n=2, seed=3), results[fmt])
    np.testing.assert_allclose(results["onnx"], results["tflite"], atol=1e-4)
    np.testing.assert_allclose(results["onnx"], results["pte"], atol=1e-4)


def test_generate_writes_recordings_the_data_layer_loads(student, tmp_path):
    from imuedge.data import load_recordings, make_windows
    from imuedge.train.diffusion.generate import SYNTHETIC_SUBJECT, generate

    _, _, path = student
    files = generate(str(path), "walking,laying", 3, tmp_path / "synth", seed=2, progress=False)
    assert len(files) == 6
    ds, errors = load_recordings(tmp_path / "synth")
    assert errors == []
    ws = make_windows(ds, 128, 64)
    assert len(ws) == 6
    names = [ws.label_names[int(k)] for k in ws.y]
    assert sorted(names) == ["laying"] * 3 + ["walking"] * 3
    assert set(ws.subject) == {SYNTHETIC_SUBJECT + 2}
    # the CSV holds the generator's windows (to the CSV's 9 significant digits)
    from imuedge.train.diffusion.generate import open_generator
    g = open_generator(str(path))
    walking = g.sample("walking", 3, 2 * 1000 + 0)
    got = np.stack([ws.x[i] for i in range(len(ws)) if names[i] == "walking"])
    np.testing.assert_allclose(np.sort(got.ravel()), np.sort(walking.ravel()), rtol=1e-6, atol=1e-5)


def test_generate_refuses_bad_input_in_one_line(student, tmp_path, capsys):
    from imuedge.cli import main

    _, _, path = student
    cases = [(["--class", "flying"], "unknown class 'flying'"), (["--n", "0"], "--n must be"),
             (["--seed", "-1"], "--seed must be")]
    for extra, message in cases:
        assert main(["generate", str(path), "--out", str(tmp_path / "s"), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert main(["generate", str(tmp_path / "nothing.pt"), "--out", str(tmp_path / "s")]) == 2
    assert "no such generator" in capsys.readouterr().err


def test_distillation_resumed_from_a_student_equals_the_uninterrupted_run(tmp_path):
    cfg = TrainConfig(out=str(tmp_path / "teacher"), steps=2, batch_size=4, checkpoint_every=2, device="cpu",
                      subjects=(1,), hop=128,
                      model=DiffusionConfig(base=8, mults=(1, 2), attention=False, schedule=ScheduleConfig(steps=100)))
    teacher = str(train(cfg, quiet=True))
    whole = distill(DistillConfig(teacher=teacher, out=str(tmp_path / "whole"), start_steps=8, iterations=2,
                                  batch_size=2), quiet=True)
    resumed = distill(DistillConfig(teacher=teacher, out=str(tmp_path / "resumed"), start_steps=8, iterations=2,
                                    batch_size=2, resume=str(whole[4])), quiet=True)
    assert sorted(resumed) == [1, 2]  # the 4-step student is not redone
    for steps in (2, 1):
        a, b = torch.load(whole[steps])["student"], torch.load(resumed[steps])["student"]
        assert all(torch.equal(a[k], b[k]) for k in a), steps
    with pytest.raises(ValueError, match="other settings .*iterations: 2 there, 3 here"):
        distill(DistillConfig(teacher=teacher, out=str(tmp_path / "x"), start_steps=8, iterations=3, batch_size=2,
                              resume=str(whole[4])), quiet=True)


@pytest.mark.slow  # two int8 exports with TSTR: ~1 min alone on 2 cores, ~4 min on a loaded machine
def test_int8_student_reports_tstr_beside_fp32_and_is_refused_when_it_drops(student, tmp_path, monkeypatch):
    from imuedge.train.diffusion import export

    _, _, path = student
    summary = export_student(path, tmp_path / "b", formats=("onnx",), precisions=("int8",), tstr_per_class=4,
                             log=lambda *a: None)
    row = summary["results"]["onnx-int8"]
    assert row["status"] == "ok", row
    p = row["parity"]
    assert p["TSTR_macro_f1_fp32_pytorch"] == summary["int8_quality_reference"]["TSTR_macro_f1_fp32_pytorch"]
    assert 0 <= p["TSTR_macro_f1"] <= 1 and p["TSTR_drop"] <= export.MAX_TSTR_DROP
    assert p["max_abs_error"] > 0  # int8: not the fp32 graph
    g = load_bundle(tmp_path / "b" / "onnx-int8")
    assert g.manifest["precision"] == "int8" and g.manifest["quantization"]["calibration"]
    assert g.manifest["parity"]["TSTR_macro_f1"] == p["TSTR_macro_f1"]
    monkeypatch.setattr(export, "MAX_TSTR_DROP", -1.0)  # no int8 can pass: refused, with its numbers kept
    refused = export_student(path, tmp_path / "r", formats=("onnx",), precisions=("int8",), tstr_per_class=4,
                             log=lambda *a: None)
    row = refused["results"]["onnx-int8"]
    assert row["status"] == "refused" and "int8 quality failed: TSTR macro-F1" in row["error"]
    assert "TSTR_macro_f1" in row["parity"] and not (tmp_path / "r" / "onnx-int8").exists()
