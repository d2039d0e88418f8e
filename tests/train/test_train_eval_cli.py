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


def _synthetic(kind: str, n: int, seed: int) -> np.ndarray:
    """(6, n): 'still' lies on its back (gravity on z, noise); 'shake' swings at 2 Hz with gravity on y."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE
    x = rng.normal(0, 0.05, (6, n))
    if kind == "still":
        x[2] += 9.81
    else:
        x[1] += 9.81
        x[0] += 4 * np.sin(2 * np.pi * 2 * t)
        x[3] += 2 * np.cos(2 * np.pi * 2 * t)
    return x.astype(np.float32)


def write_folder(folder, subjects=(1, 2), seconds=20.0, channels=CHANNELS, labelled=True):
    folder.mkdir(parents=True, exist_ok=True)
    n = int(seconds * RATE)
    names = {0: "shake", 1: "still"}
    for s in subjects:
        for c, kind in names.items():
            data = _synthetic(kind, n, 10 * s + c)[[CHANNELS.index(ch) for ch in channels]]
            labels = np.full(n, c if labelled else -1)
            write_recording_csv(folder / f"s{s}_{kind}.csv",
                                Recording(data, labels, tuple(channels), RATE, s, f"s{s}_{kind}"), names)
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
    assert main(["eval", "--model", str(out), "--data", str(data), "--json", str(scores)]) == 0
    text = capsys.readouterr().out
    assert "macro-F1" in text and "confusion matrix" in text and "accuracy" in text
    s = json.loads(scores.read_text())
    assert s["windows"] == 4 * ((1000 - 128) // 64 + 1) and s["class_names"] == ["shake", "still"]
    assert np.asarray(s["confusion"]).sum() == s["windows"]

    from imuedge.export.target import target_from_checkpoint

    target = target_from_checkpoint(out)  # what `imuedge export` starts from
    assert target.task == "classify" and target.output["class_names"] == ["shake", "still"]


def test_eval_refuses_other_channels_naming_both(trained, tmp_path, capsys):
    _, out = trained
    acc_only = write_folder(tmp_path / "acc", subjects=(3,), channels=CHANNELS[:3])
    assert main(["eval", "--model", str(out), "--data", str(acc_only)]) == 2
    err = capsys.readouterr().err
    assert "gyro_x" in err and "['acc_x', 'acc_y', 'acc_z']" in err


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
    from imuedge.edge_runtime.simulator import start_simulator
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
