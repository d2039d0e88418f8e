"""`imuedge train` / `imuedge eval` on CSV folders, and the issue #4 round trip:
`imuedge record` over a pty device simulator -> `imuedge train` -> `imuedge eval`.

Random-init encoders only (``--encoder random``): these tests check the plumbing and the
checkpoint, not the quality of a pretrained encoder. No timing assertions.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from imuedge.cli import main
from imuedge.data import Recording, write_recording_csv
from imuedge.window import CHANNELS

RATE = 50.0


def _synthetic(kind: str, n: int, seed: int, rate: float = RATE) -> np.ndarray:
    """(6, n): 'still' lies on its back (gravity on z, noise); 'shake' swings at 2 Hz with gravity on y."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    x = rng.normal(0, 0.05, (6, n))
    if kind == "still":
        x[2] += 9.81
    else:
        x[1] += 9.81
        x[0] += 4 * np.sin(2 * np.pi * 2 * t)
        x[3] += 2 * np.cos(2 * np.pi * 2 * t)
    return x.astype(np.float32)


def write_folder(folder, subjects=(1, 2), seconds=20.0, channels=CHANNELS, labelled=True, rate=RATE):
    """One 'shake' and one 'still' recording per subject; a subject is a number or a text id ('p01')."""
    folder.mkdir(parents=True, exist_ok=True)
    n = int(seconds * rate)
    names = {0: "shake", 1: "still"}
    for k, s in enumerate(subjects):
        number, name = (s, "") if isinstance(s, int) else (100 + k, str(s))
        for c, kind in names.items():
            data = _synthetic(kind, n, 10 * number + c, rate)[[CHANNELS.index(ch) for ch in channels]]
            labels = np.full(n, c if labelled else -1)
            rec = Recording(data, labels, tuple(channels), rate, number, f"s{s}_{kind}", subject_name=name)
            write_recording_csv(folder / f"s{s}_{kind}.csv", rec, names)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("train_cli")
    data = write_folder(root / "data")
    out = root / "classifier.pt"
    rc = main(["train", "--data", str(data), "--encoder", "random", "--shots", "3", "--out", str(out)])
    assert rc == 0
    return data, out


def test_every_flag_has_help():
    from imuedge.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in ("train", "eval"):
        for action in sub.choices[name]._actions:
            assert action.help, f"imuedge {name} {action.option_strings} has no help"


def test_train_writes_a_loadable_exportable_classifier_and_eval_scores_it(trained, tmp_path, capsys):
    from imuedge.train.encoder import Classifier
    from imuedge.train.fewshot import predict
    from imuedge.train.models import load_model

    data, out = trained
    model, ckpt = load_model(out)
    assert isinstance(model, Classifier) and ckpt["kind"] == "classifier"
    assert ckpt["label_names"] == {"0": "shake", "1": "still"}
    assert ckpt["window"]["window"] == 128 and ckpt["window"]["hop"] == 64
    assert ckpt["window"]["channels"] == list(CHANNELS) and ckpt["window"]["sample_rate_hz"] == RATE
    ev = ckpt["evaluation"]
    assert ev["held_out"] and "subjects" in ev["holdout"]  # two subjects: one held out
    assert ckpt["provenance"]["shots"] == "3" and ckpt["provenance"]["encoder"].startswith("random")
    # fresh windows of both kinds (seeds the training folder never used): told apart, as the data makes easy
    kinds = ["shake", "still"] * 20
    x = np.stack([_synthetic(k, 128, 1000 + i) for i, k in enumerate(kinds)])
    truth = np.array([{"shake": 0, "still": 1}[k] for k in kinds])  # the label_names asserted above
    assert np.mean(predict(model, x) == truth) >= 0.95
    # the spectrogram's per-axis statistics were fitted (not the identity defaults)
    assert not torch.allclose(model.encoder.spectrogram.axis_std, torch.ones(1))

    capsys.readouterr()
    scores = tmp_path / "scores.json"
    assert main(["eval", "--model", str(out), "--data", str(data), "--json", str(scores), "--subjects", "all"]) == 0
    text = capsys.readouterr().out
    assert "macro-F1" in text and "confusion matrix" in text and "accuracy" in text
    s = json.loads(scores.read_text())
    assert s["windows"] == 4 * ((1000 - 128) // 64 + 1) and s["class_names"] == ["shake", "still"]
    assert np.asarray(s["confusion"]).sum() == s["windows"]

    from imuedge.export.target import target_from_checkpoint

    target = target_from_checkpoint(out)  # what `imuedge export` starts from
    assert target.task == "classify" and target.output["class_names"] == ["shake", "still"]


def test_eval_scores_the_held_out_subjects_by_default_and_says_which(trained, tmp_path, capsys):
    from imuedge.train.models import load_model

    data, out = trained
    held = load_model(out)[1]["evaluation"]["held_out_subjects"]
    assert len(held) == 1 and held[0] in ("1", "2")
    capsys.readouterr()
    per_subject = 2 * ((1000 - 128) // 64 + 1)
    scores = tmp_path / "s.json"
    assert main(["eval", "--model", str(out), "--data", str(data), "--json", str(scores)]) == 0
    text = capsys.readouterr().out
    assert f"scored {per_subject} windows: the model's held-out subjects {held[0]} (recorded in {out}" in text
    s = json.loads(scores.read_text())
    assert s["windows"] == per_subject and s["scored"]["subjects"] == held
    assert main(["eval", "--model", str(out), "--data", str(data), "--subjects", "all"]) == 0
    text = capsys.readouterr().out
    trained_on = ({"1", "2"} - set(held)).pop()
    assert f"scored {2 * per_subject} windows: every window, subjects 1, 2; subjects {trained_on} share ids with " \
           f"the model's training subjects" in text
    other = write_folder(tmp_path / "other", subjects=(5,), seconds=8.0)  # none of the held-out subjects: all
    assert main(["eval", "--model", str(out), "--data", str(other)]) == 0
    assert "scored 10 windows: every window, subjects 5\n" in capsys.readouterr().out


def test_train_embeds_the_probes_windows_and_the_held_out_ones_once(tmp_path, capsys, monkeypatch):
    from imuedge.train import fewshot, fewshot_cli
    from imuedge.train.models import load_model

    data = write_folder(tmp_path / "d", subjects=(1, 2, 3), seconds=12.0)  # 3 x 2 recordings x 8 windows
    calls = {"embed": [], "predict": []}
    real_embed, real_predict = fewshot.embed, fewshot.predict
    monkeypatch.setattr(fewshot, "embed", lambda enc, x, **k: calls["embed"].append(len(x)) or real_embed(enc, x, **k))
    monkeypatch.setattr(fewshot, "predict", lambda m, x, **k: calls["predict"].append(len(x)) or real_predict(m, x, **k))
    monkeypatch.setattr(fewshot_cli, "STATS_WINDOWS", 5)  # a big folder in miniature: 32 training windows
    monkeypatch.setattr(fewshot_cli, "PROGRESS_EVERY_S", 0.0)
    outs, heads = [], []
    for k in range(2):
        out = tmp_path / f"c{k}.pt"
        assert main(["train", "--data", str(data), "--encoder", "random", "--shots", "3", "--hop", "48",
                     "--out", str(out)]) == 0
        model, ckpt = load_model(out)
        outs.append(ckpt["evaluation"])
        heads.append(model.head.weight.detach())
    text = capsys.readouterr().out
    n_test = outs[0]["windows"]
    assert calls == {"embed": [2 * 3 + 5] * 2, "predict": [n_test] * 2}  # each window once, nothing else
    assert "embedding 11 training windows (the probe's 6, 5 more for the feature statistics)" in text
    assert f"export it with `imuedge export {out} --format pte --calibration {data}`" in text
    assert outs[0] == outs[1] and torch.equal(*heads)  # the same seed: the same windows, probe and scores
    report = fewshot_cli.progress(print, "embedding")  # long loops say how far they are
    report(64, 200), report(200, 200)
    assert capsys.readouterr().out == "embedding: 64/200 windows\n"


def test_probe_windows_are_the_shots_plus_a_seeded_sample_or_every_window():
    from imuedge.data import few_shot_indices
    from imuedge.train.fewshot_cli import probe_windows

    y = np.repeat([0, 1, 2], 100)
    shots, pool = probe_windows(y, 4, seed=7, stats_windows=20)
    assert shots.tolist() == few_shot_indices(y, 4, 7).tolist() and len(pool) == 12 + 20
    assert set(shots) <= set(pool) and (np.diff(pool) > 0).all()
    assert (probe_windows(y, 4, 7, 20)[1] == pool).all() and not (probe_windows(y, 4, 8, 20)[1] == pool).all()
    assert (probe_windows(y, 4, 7, 300)[1] == np.arange(300)).all()  # small enough: every window, as before
    assert (probe_windows(y, None, 7, 20)[0] == np.arange(300)).all()


def test_train_resamples_to_the_rate_the_encoder_records_and_says_so(trained, tmp_path, capsys):
    from imuedge import checkpoint
    from imuedge.data import load_recordings
    from imuedge.train.models import WEIGHTS, load_model
    from imuedge.train.user_data import at_encoder_rate

    data = write_folder(tmp_path / "d25", subjects=(1, 2), seconds=16.0, rate=25.0)
    out = tmp_path / "c.pt"
    assert main(["train", "--data", str(data), "--encoder", str(trained[1]), "--shots", "2", "--out", str(out)]) == 0
    assert "the data is at 25 Hz, the encoder at 50 Hz (128 samples = 2.56 s): resampling the data to 50 Hz" \
        in capsys.readouterr().out
    assert load_model(out)[1]["window"]["sample_rate_hz"] == 50.0
    ds, _ = load_recordings(data)
    said = []
    shipped = str(WEIGHTS / "img2imu_edge_sensor.pt")  # records the 50 Hz windows it was pretrained on
    assert at_encoder_rate(ds, shipped, 128, said.append).sample_rate_hz == 50.0
    assert said == ["the data is at 25 Hz, the encoder at 50 Hz (128 samples = 2.56 s): resampling the data to "
                    "50 Hz (anti-aliased; --keep-rate trains on it as it is, with 5.12 s windows)"]
    assert at_encoder_rate(ds, shipped, 128, said.append, keep=True) is ds
    assert said[-1] == ("the data is at 25 Hz, the encoder at 50 Hz; --keep-rate: not resampling, so its 128-sample "
                        "windows span 5.12 s here against 2.56 s in pretraining")
    old = checkpoint.load(shipped)  # an encoder saved before checkpoints recorded their windows
    del old["window"]
    checkpoint.save(old, tmp_path / "old.pt")
    assert at_encoder_rate(ds, str(tmp_path / "old.pt"), 128, said.append) is ds
    assert said[-1] == (f"the encoder {tmp_path / 'old.pt'} does not record its sample rate: its 128-sample "
                        f"windows are 5.12 s of this 25 Hz data")
    assert at_encoder_rate(ds, "random", 128, said.append) is ds and len(said) == 3


def test_keep_rate_trains_on_the_data_as_it_is(trained, tmp_path, capsys):
    from imuedge.train.models import load_model

    data = write_folder(tmp_path / "d25", subjects=(1, 2), seconds=16.0, rate=25.0)
    out = tmp_path / "c.pt"
    assert main(["train", "--data", str(data), "--encoder", str(trained[1]), "--shots", "2", "--keep-rate",
                 "--out", str(out)]) == 0
    assert "--keep-rate: not resampling" in capsys.readouterr().out
    assert load_model(out)[1]["window"]["sample_rate_hz"] == 25.0


def test_a_rate_that_disagrees_with_the_timestamps_is_said_once(tmp_path, capsys):
    data = write_folder(tmp_path / "d", subjects=(1, 2), seconds=4.0, rate=25.0)
    assert main(["train", "--data", str(data), "--encoder", "random", "--rate", "50", "--out", str(tmp_path / "c")]) == 2
    out = capsys.readouterr()
    assert "--rate 50 disagrees with the timestamps of 4 file(s), which show 25 Hz; leave out --rate" in out.out
    assert "no recording in" in out.err


def test_eval_takes_the_npz_train_saves(trained, tmp_path, capsys):
    data, out = trained
    windows = tmp_path / "w.npz"
    assert main(["train", "--data", str(data), "--encoder", str(out), "--shots", "2", "--out", str(tmp_path / "c.pt"),
                 "--save-windows", str(windows)]) == 0
    with np.load(windows) as z:
        x, y = z["x"], z["y"]
        np.savez(tmp_path / "flipped.npz", x=x, y=1 - y, class_names=np.array(["still", "shake"]))  # other order
    scores = [tmp_path / "a.json", tmp_path / "b.json"]
    assert main(["eval", "--model", str(out), "--data", str(windows), "--json", str(scores[0])]) == 0
    assert main(["eval", "--model", str(out), "--data", str(tmp_path / "flipped.npz"), "--json", str(scores[1])]) == 0
    a, b = (json.loads(p.read_text()) for p in scores)
    assert a["windows"] == len(x) and a["confusion"] == b["confusion"]  # classes matched by name
    assert f"scored {len(x)} windows: every window of {windows} (an .npz" in capsys.readouterr().out
    from imuedge.export.cli import load_windows
    from imuedge.window import WindowSpec

    _, _, ey, _ = load_windows(str(windows), WindowSpec(), 4, 100, class_names=["shake", "still"])
    _, _, flipped_ey, _ = load_windows(str(tmp_path / "flipped.npz"), WindowSpec(), 4, 100,
                                       class_names=["shake", "still"])
    assert (ey == flipped_ey).all() and len(set(ey.tolist())) == 2  # export's parity labels: by name too
    np.savez(tmp_path / "short.npz", x=x[:, :, :64], y=y)
    assert main(["eval", "--model", str(out), "--data", str(tmp_path / "short.npz")]) == 2
    assert "the model takes windows (6 channels" in capsys.readouterr().err


def test_eval_refuses_other_channels_naming_both(trained, tmp_path, capsys):
    _, out = trained
    acc_only = write_folder(tmp_path / "acc", subjects=(3,), channels=CHANNELS[:3])
    assert main(["eval", "--model", str(out), "--data", str(acc_only)]) == 2
    err = capsys.readouterr().err
    assert "gyro_x" in err and "['acc_x', 'acc_y', 'acc_z']" in err


def test_string_subject_ids_train_report_and_eval(tmp_path, capsys):
    from imuedge.train.models import load_model

    data = write_folder(tmp_path / "d", subjects=("p01", "w10", "7", "p02"), seconds=8.0)
    out = tmp_path / "c.pt"
    assert main(["train", "--data", str(data), "--encoder", "random", "--shots", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "4 subjects: 7, p01, p02, w10" in text
    ev = load_model(out)[1]["evaluation"]
    assert ev["subjects"] == {"7": "7", "8": "p01", "9": "p02", "10": "w10"}  # number -> the data's id
    held = ev["held_out_subjects"]
    assert held and set(held) < {"7", "p01", "p02", "w10"}
    assert f"held-out subjects {', '.join(held)} (training on" in text
    scores = tmp_path / "s.json"
    assert main(["eval", "--model", str(out), "--data", str(data), "--subjects", "p01", "--json", str(scores)]) == 0
    assert json.loads(scores.read_text())["windows"] == 2 * ((400 - 128) // 64 + 1)


def test_train_and_eval_print_warnings_as_data_inspect_does(trained, tmp_path, capsys):
    data = write_folder(tmp_path / "d", subjects=(1, 2, 3), seconds=8.0)
    fast = _synthetic("still", 1600, 99)  # 8 s at 200 Hz: loaded with a warning, resampled to 50 Hz
    write_recording_csv(data / "z_fast.csv", Recording(fast, np.full(1600, 1), CHANNELS, 200.0, 3, "z_fast"),
                        {0: "shake", 1: "still"})
    expected = "warning: z_fast.csv: 200 Hz resampled to 50 Hz (the first file's rate)\n"
    assert main(["data", "inspect", str(data)]) == 0
    assert expected in capsys.readouterr().out
    for cli in (["train", "--data", str(data), "--encoder", "random", "--shots", "2", "--out", str(tmp_path / "c.pt")],
                ["eval", "--model", str(trained[1]), "--data", str(data)]):
        assert main(cli) == 0
        err = capsys.readouterr().err
        assert expected in err and "RecordingWarning" not in err and "warnings.warn" not in err, err


@pytest.mark.parametrize("case, args, message", [
    ("shots", ["--shots", "50"], "too few windows for --shots 50: 'shake' has 28"),
    ("window", ["--window", "256", "--seconds", "3"], "longer than every recording"),
    ("labels", ["--unlabelled"], "no labelled samples"),
    ("encoder-window", ["--window", "256", "--encoder-ckpt"], "takes windows of 128 samples"),
])
def test_train_errors_are_clear(trained, tmp_path, capsys, case, args, message):
    seconds = 3.0 if "--seconds" in args else 20.0
    data = write_folder(tmp_path / "d", seconds=seconds, labelled="--unlabelled" not in args)
    cli = ["train", "--data", str(data), "--out", str(tmp_path / "c.pt")]
    cli += ["--encoder", str(trained[1]) if "--encoder-ckpt" in args else "random"]
    cli += [a for a in args if a not in ("--seconds", "3", "--unlabelled", "--encoder-ckpt")]
    assert main(cli) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "c.pt").exists()


# ------------------------------------------------------------------ issue #4: record over a pty -> train -> eval
def _hapt_segments(seconds: float = 30.0):
    """Walking and laying from one HAPT test-subject recording (its longest stretch of each, <= ``seconds``)."""
    from imuedge.data import load_hapt, subject_split
    from imuedge.data.windows import label_runs

    ds = load_hapt()
    test = set(subject_split(ds.subjects, 0)["test"])
    best, best_len = None, 0
    for r in ds.recordings:
        if r.subject not in test:
            continue
        runs = {}
        for a, b, c in label_runs(r.labels):
            name = {1: "walking", 6: "laying"}.get(c)
            if name and b - a > runs.get(name, (0, 0))[1] - runs.get(name, (0, 0))[0]:
                runs[name] = (a, min(b, a + int(seconds * RATE)))
        if len(runs) == 2 and min(b - a for a, b in runs.values()) > best_len:
            best_len = min(b - a for a, b in runs.values())
            best = {name: (r.subject, r.data[:, a:b]) for name, (a, b) in runs.items()}
    return best


def test_record_over_pty_then_train_and_eval(tmp_path, capsys):
    pytest.importorskip("serial")
    from imuedge.emulation.simulator import start_simulator
    from imuedge.train.fewshot import predict
    from imuedge.train.models import load_model

    torch.set_num_threads(1)
    captures = tmp_path / "captures"
    captures.mkdir()
    for name, (subject, data) in _hapt_segments().items():
        src = write_recording_csv(tmp_path / f"{name}_src.csv",
                                  Recording(data, np.full(data.shape[1], -1), CHANNELS, RATE, subject, name))
        link = tmp_path / f"tty_{name}"
        proc = start_simulator(src, link, "--speed", "25")
        try:
            rc = main(["record", "--source", f"serial:{link}", "--out", str(captures / f"capture_{name}.csv"),
                       "--label", name, "--subject", str(subject), "--samples", str(data.shape[1])])
        finally:
            proc.wait(60)
        assert rc == 0 and proc.returncode == 0

    out = tmp_path / "classifier.pt"
    assert main(["train", "--data", str(captures), "--encoder", "random", "--shots", "5", "--out", str(out),
                 "--save-windows", str(tmp_path / "windows.npz")]) == 0
    text = capsys.readouterr().out
    assert "NO HELD-OUT DATA (one subject only" in text and "TRAINING windows" in text  # one recording per class

    model, ckpt = load_model(out)
    assert ckpt["label_names"] == {"0": "laying", "1": "walking"} and ckpt["evaluation"]["held_out"] is False
    from imuedge.data import load_recordings, make_windows

    ds, errors = load_recordings(captures, strict=True)
    ws = make_windows(ds, 128, 64)
    pred = predict(model, ws.x)
    assert len(ws) >= 2 * 15 and set(pred.tolist()) == {0, 1}  # both classes predicted
    with np.load(tmp_path / "windows.npz") as z:  # for `imuedge export --calibration windows.npz`
        assert z["x"].shape == ws.x.shape and set(z["y"].tolist()) == {0, 1}
    truth = np.array([ckpt["label_names"][str(i)] for i in pred]) == \
        np.array([ds.label_names[int(c)] for c in ws.y])
    assert truth.mean() >= 0.9  # walking vs laying: separable even with random-init features

    scores = tmp_path / "scores.json"
    assert main(["eval", "--model", str(out), "--data", str(captures), "--json", str(scores)]) == 0
    s = json.loads(scores.read_text())
    assert s["windows"] == len(ws) and s["accuracy"] == pytest.approx(truth.mean())


# ------------------------------------------------------------------ export --calibration: your data (HAPT for HAPT models)
def _write_plain_folder(folder, subjects=(1, 2), seconds=8.0):
    """Recordings as many devices write them: no timestamp column (the rate is a flag), acceleration in g."""
    folder.mkdir(parents=True, exist_ok=True)
    n = int(seconds * RATE)
    for s in subjects:
        for c, kind in enumerate(("shake", "still")):
            data = _synthetic(kind, n, 10 * s + c)
            data[:3] /= 9.80665
            rows = [",".join(f"{v:.6g}" for v in col) + f",{kind}" for col in data.T]
            (folder / f"s{s}_{kind}.csv").write_text("acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z,label\n"
                                                     + "\n".join(rows) + "\n")
    return folder


def test_export_calibrates_on_a_folder_read_with_the_data_flags(trained, tmp_path, capsys):
    import argparse

    from imuedge.export.cli import load_windows
    from imuedge.window import WindowSpec

    _, ckpt = trained
    data = _write_plain_folder(tmp_path / "plain")
    out = tmp_path / "bundles"
    cli = ["export", str(ckpt), "--format", "onnx", "--precision", "fp32", "--calibration", str(data),
           "--out", str(out), "--calibration-windows", "8", "--parity-windows", "16"]
    assert main(cli) == 2  # no timestamps and no --rate: nothing loads, said in one line
    err = capsys.readouterr().err
    assert "no recording in" in err and "Traceback" not in err
    assert main(cli + ["--rate", "50"]) == 0  # in g but read as m/s^2: the loader's warning, one clean line
    err = capsys.readouterr().err
    assert "warning: s1_shake.csv: acceleration magnitude is about 1" in err and "RecordingWarning" not in err
    manifest = json.loads((out / "onnx-fp32" / "imuedge.json").read_text())
    assert manifest["provenance"]["data"]["source"] == str(data)
    assert "by name" in manifest["provenance"]["data"]["labels"]
    assert manifest["parity"]["windows"] == 20 - 8 and "macro_f1_fp32" in manifest["parity"]  # labels were used
    # --acc-unit reaches the loader: g read as g gives gravity, 9.8 m/s^2
    flags = argparse.Namespace(rate=50.0, acc_unit="g")
    cal, _, y, _ = load_windows(str(data), WindowSpec(), 8, 16, class_names=["still", "shake"], data_flags=flags)
    assert np.median(np.linalg.norm(cal[:, :3], axis=1)) == pytest.approx(9.81, abs=0.2)
    assert set(y.tolist()) == {0, 1}


def test_export_refuses_hapt_for_a_model_of_other_classes_channels_or_rate(trained, tmp_path, capsys):
    from imuedge.export.cli import hapt_mismatch
    from imuedge.window import WindowSpec

    out = tmp_path / "bundles"
    assert main(["export", str(trained[1]), "--format", "onnx", "--precision", "fp32", "--out", str(out)]) == 2
    assert not out.exists()  # refused before anything is written (hapt: the default --calibration)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"imuedge export: --calibration hapt: the model's classes ['shake', 'still'] are not HAPT "
                     f"activities; pass your own data instead: --calibration FOLDER (your recordings, with the "
                     f"--rate/--acc-unit/--gyro-unit of `imuedge train`) or --calibration FILE.npz "
                     f"(`imuedge train --save-windows`)"]
    hapt = ["walking", "sitting", "laying"]
    assert hapt_mismatch(WindowSpec(CHANNELS, 50.0, 128, 64), hapt) is None
    assert hapt_mismatch(WindowSpec(CHANNELS, 50.0, 128, 64), None) is None  # an encoder of HAPT's shape
    assert "20 Hz" in hapt_mismatch(WindowSpec(CHANNELS, 20.0, 128, 64), hapt)
    assert "['acc_x', 'acc_y', 'acc_z']" in hapt_mismatch(WindowSpec(CHANNELS[:3], 50.0, 128, 64), hapt)


# ------------------------------------------------------------------ a wrong path: one line, in every command
BAD_PATHS = ("missing", "empty-folder", "text-file")


def _bad_path(tmp_path, kind):
    if kind == "missing":
        return tmp_path / "nothing-here"
    if kind == "empty-folder":
        (tmp_path / "empty").mkdir(exist_ok=True)
        return tmp_path / "empty"
    (tmp_path / "notes.npz").write_text("these are my notes, not data")
    return tmp_path / "notes.npz"


@pytest.mark.parametrize("kind", BAD_PATHS)
@pytest.mark.parametrize("command", ["train --data", "train --encoder", "eval --model", "eval --data", "export",
                                     "export --calibration", "data inspect"])
def test_a_wrong_path_is_one_line_in_every_command(trained, tmp_path, capsys, command, kind):
    data, ckpt = trained
    bad = str(_bad_path(tmp_path, kind))
    out = str(tmp_path / "c.pt")
    argv = {
        "train --data": ["train", "--data", bad, "--encoder", "random", "--out", out],
        "train --encoder": ["train", "--data", str(data), "--encoder", bad, "--out", out],
        "eval --model": ["eval", "--model", bad, "--data", str(data)],
        "eval --data": ["eval", "--model", str(ckpt), "--data", bad],
        "export": ["export", bad, "--format", "onnx", "--precision", "fp32", "--out", str(tmp_path / "b")],
        "export --calibration": ["export", str(ckpt), "--calibration", bad, "--format", "onnx", "--precision", "fp32",
                                 "--out", str(tmp_path / "b")],
        "data inspect": ["data", "inspect", bad],
    }[command]
    assert main(argv) == 2
    captured = capsys.readouterr()
    text = captured.out if command == "data inspect" else captured.err
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert "Traceback" not in captured.err + captured.out
    assert len(lines) == 1 and ("error" in lines[0] or lines[0].startswith("imuedge ")), lines
    assert bad in lines[0] or bad.rsplit("/", 1)[1] in lines[0], lines  # says where
