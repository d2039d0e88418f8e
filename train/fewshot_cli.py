"""`imuedge train` and `imuedge eval`: a few-shot classifier from your own recordings, and its scores.

    imuedge record ... --label walking       # captures, one activity per file (edge_runtime)
    imuedge train --data captures/ --encoder ENCODER.pt --shots 10 --out classifier.pt
    imuedge eval --model classifier.pt --data other_captures/
    imuedge export classifier.pt --format pte --calibration captures/

`train` windows the labelled recordings, fits the spectrogram's per-axis statistics on
the training windows, embeds the N windows per class the probe sees (plus at most
``STATS_WINDOWS`` unlabelled training windows whose features standardise them), fits a
linear probe and folds it into one ``Classifier`` saved as an imuedge checkpoint (the
same keys as the main job's ``classifier.pt``). It scores the saved model on held-out
windows, each embedded once: other subjects when it can (a different set for each seed),
else other recordings, else -- said so in the output and in the checkpoint -- on the
training windows themselves. The checkpoint records the subjects' ids and the held-out
ones, which `eval` scores by default. Reading ``--data`` (hapt, a folder, an .npz), its windows and
the held-out choice are ``user_data.py``'s.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from imuedge.data.cli import add_recording_flags
from imuedge.train.user_data import (CliError, at_encoder_rate, choose_holdout, class_counts, cut_windows,
                                     held_out_subject_ids, load_data, npz_for_eval, recordings_for_eval,
                                     select_channels, subject_list)


TRAIN_HELP = """Train a few-shot classifier on labelled recordings: window them, fit the
spectrogram's per-axis statistics on the training windows, embed N labelled windows per
class (and up to 512 more for feature statistics) with a frozen encoder, fit a linear
probe on the N windows per class, fold it into one model and
save it as a checkpoint that `imuedge export` and `imuedge eval` take. The probe is
scored on held-out windows: other subjects (subject-disjoint) when the data has several,
else other recordings, else on the training windows (the output says which)."""

EVAL_HELP = """Score a classifier checkpoint on labelled recordings: window them with the
model's window and hop, predict every window, print macro-F1, accuracy, per-class counts
and the confusion matrix. Classes are matched by name; windows of classes the model does
not know are counted and left out. By default the windows scored are those of the
held-out subjects the checkpoint records (`imuedge train` writes them) when the data
has them, else every window; the output says which (--subjects chooses)."""


# ---------------------------------------------------------------- flags
def _data_flags(p: argparse.ArgumentParser, npz: bool = False) -> None:
    p.add_argument("--data", required=True, metavar="FOLDER|hapt" + ("|FILE.npz" if npz else ""),
                   help="a folder of CSV recordings with a label column (the format `imuedge record` writes; "
                        "see README 'Your own recordings'), or the word hapt for UCI HAPT (six basic activities)"
                        + (", or an .npz of windows with labels (x, y and class_names, as `imuedge train "
                           "--save-windows` writes)" if npz else ""))
    add_recording_flags(p)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.HelpFormatter
    t = sub.add_parser("train", help="few-shot classifier from labelled recordings (probe on a frozen encoder)",
                       description=TRAIN_HELP, formatter_class=fmt)
    _data_flags(t)
    t.add_argument("--encoder", required=True, metavar="ENCODER.pt|random",
                   help="a pretrained encoder checkpoint (`imuedge pretrain` writes OUT/encoder.pt; a classifier "
                        "checkpoint's encoder works too), or random for a random-init encoder (a baseline)")
    t.add_argument("--shots", default="10", metavar="N|all",
                   help="labelled training windows per class the probe sees, or all (default 10)")
    t.add_argument("--window", type=int, metavar="SAMPLES",
                   help="window length in samples; must equal the encoder's. "
                        "Default: the encoder's, 128 for random")
    t.add_argument("--hop", type=int, metavar="SAMPLES", help="samples between window starts (default: window / 2)")
    t.add_argument("--keep-rate", action="store_true",
                   help="feed the data at its own sample rate even when the encoder records another (its windows "
                        "then span another duration than in pretraining). Default: resample the data to the "
                        "encoder's rate, anti-aliased")
    t.add_argument("--holdout", choices=("auto", "subject", "recording", "none"), default="auto",
                   help="what the held-out test windows are: other subjects, other recordings, or none (score on "
                        "the training windows); auto (default) tries subject, then recording, then none")
    t.add_argument("--backbone", choices=("edge", "resnet18"), default="edge",
                   help="backbone of a random encoder (default edge; a checkpoint brings its own)")
    t.add_argument("--seed", type=int, default=0,
                   help="seed of the split, the shot sampling and a random encoder (default 0)")
    t.add_argument("--out", default="classifier.pt", help="classifier checkpoint to write (default classifier.pt)")
    t.add_argument("--save-windows", metavar="FILE.npz",
                   help="also save every labelled window (x: N x channels x samples, in m/s^2 and rad/s; y: class "
                        "index) for `imuedge export --calibration FILE.npz` when the data is not HAPT-like")
    t.set_defaults(func=lambda a: _guard("train", run_train, a))

    e = sub.add_parser("eval", help="score a classifier checkpoint on labelled recordings",
                       description=EVAL_HELP, formatter_class=fmt)
    e.add_argument("--model", required=True, metavar="CLASSIFIER.pt",
                   help="classifier checkpoint (`imuedge train --out`, or reports/default/classifier.pt)")
    _data_flags(e, npz=True)
    e.add_argument("--hop", type=int, metavar="SAMPLES", help="samples between window starts (default: the model's)")
    e.add_argument("--subjects", metavar="LIST|all",
                   help="score these subjects, comma separated, as the data names them (p01,p02 or 3,7), or all. "
                        "Default: the held-out subjects the checkpoint records (`imuedge train` writes them) when "
                        "the data has them, else all")
    e.add_argument("--json", metavar="FILE", help="also write the scores as JSON to FILE")
    e.set_defaults(func=lambda a: _guard("eval", run_eval, a))


def _guard(name, fn, a) -> int:
    from imuedge.checkpoint import CheckpointError
    from imuedge.data import RecordingFormatError
    from imuedge.data.cli import warnings_as_lines

    try:
        with warnings_as_lines():
            return fn(a)
    except (CliError, CheckpointError, RecordingFormatError, FileNotFoundError) as e:
        print(f"imuedge {name}: error: {e}", file=sys.stderr)
        return 2


# ---------------------------------------------------------------- report
def scores(y, pred, names) -> dict:
    from imuedge.train.fewshot import score
    from imuedge.train.metrics import accuracy

    f1, cm = score(y, pred, len(names))
    return {"windows": int(len(y)), "macro_f1": f1, "accuracy": accuracy(y, pred),
            "class_names": list(names), "confusion": cm.tolist()}


def format_scores(s: dict) -> str:
    names, cm = s["class_names"], np.asarray(s["confusion"])
    w = max(9, *(len(n) for n in names)) + 2
    tp, true, pred = np.diag(cm), cm.sum(1), cm.sum(0)
    lines = [f"windows   {s['windows']}", f"accuracy  {s['accuracy']:.3f}", f"macro-F1  {s['macro_f1']:.3f}",
             f"{'class':<{w}}{'windows':>8}{'predicted':>10}{'recall':>8}{'F1':>7}"]
    for i, n in enumerate(names):
        rec = tp[i] / true[i] if true[i] else float("nan")
        f1 = 2 * tp[i] / (true[i] + pred[i]) if true[i] + pred[i] else float("nan")
        lines.append(f"{n:<{w}}{true[i]:>8}{pred[i]:>10}{rec:>8.3f}{f1:>7.3f}")
    lines.append("confusion matrix (rows: true class, columns: predicted)")
    lines.append(" " * w + "".join(f"{n[:w - 2]:>{w}}" for n in names))
    lines += [f"{n:<{w}}" + "".join(f"{v:>{w}}" for v in row) for n, row in zip(names, cm)]
    return "\n".join(lines)


# ---------------------------------------------------------------- train
def _encoder(a, channels, window):
    """(encoder, description) from --encoder; ``window`` None means the encoder's own."""
    import torch

    from imuedge.spectrogram import SpectrogramConfig
    from imuedge.train.encoder import IMUEncoder
    from imuedge.train.models import load_encoder

    if a.encoder == "random":
        torch.manual_seed(a.seed)
        try:
            spec = SpectrogramConfig(samples=window or 128)
        except ValueError as e:
            raise CliError(f"--window {window}: {e}") from None
        return IMUEncoder(channels, a.backbone, spectrogram=spec), f"random-init {a.backbone} (seed {a.seed})"
    return load_encoder(a.encoder), f"{a.encoder}"  # an encoder, classifier or MAE checkpoint


def run_train(a) -> int:
    import torch

    from imuedge import checkpoint
    from imuedge.data import remap_labels
    from imuedge.train import fewshot
    from imuedge.train.models import classifier_from_probe, save_classifier
    from imuedge.window import WindowSpec

    say = lambda m: print(f"[imuedge train] {m}", flush=True)  # noqa: E731
    if a.threads:
        torch.set_num_threads(a.threads)
    shots = None if a.shots.strip().lower() == "all" else _positive_int(a.shots, "--shots")
    _check_positive(a, "window", "hop")
    ds, keep = load_data(a, say)
    enc, enc_desc = _encoder(a, ds.channels, a.window)
    samples = enc.window
    if a.window is not None and a.window != samples:
        raise CliError(f"--window {a.window} but the encoder {a.encoder} takes windows of {samples} samples; "
                       f"use --window {samples} or another encoder")
    window, hop = samples, a.hop or max(1, samples // 2)
    dropped = [c for c in ds.channels if c not in enc.channels]
    ds = select_channels(ds, enc.channels, f"the encoder ({enc_desc})")
    if dropped:
        say(f"the encoder takes {list(enc.channels)}; the data's {dropped} are not used")
    ds = at_encoder_rate(ds, a.encoder, window, say, a.keep_rate)
    ws = cut_windows(ds, window, hop, keep)
    classes = list(keep) if keep else sorted(int(c) for c in np.unique(ws.y))
    ws = remap_labels(ws, [c for c in classes if (ws.y == c).any()])
    names = [ws.label_names[i] for i in range(len(ws.label_names))]
    say(f"data {a.data}: {len(ds.recordings)} recordings, {subject_list(ds)}, {list(ds.channels)} at "
        f"{ds.sample_rate_hz:g} Hz; {len(ws)} windows of {window} samples, hop {hop} ({class_counts(ws.y, names)})")
    if len(names) < 2:
        raise CliError(f"the labelled windows hold one class only ({names[0]!r}); a classifier needs at least two "
                       f"(record another activity)")
    need = shots or 1
    short = [(n, int((ws.y == c).sum())) for c, n in enumerate(names) if (ws.y == c).sum() < need]
    if short:
        raise CliError(f"too few windows for --shots {shots}: " + ", ".join(f"{n!r} has {k}" for n, k in short)
                       + f" (windows of {window} samples, hop {hop}); use --shots {min(k for _, k in short)} "
                       f"or fewer, --shots all, a smaller --hop, or record longer")
    if a.save_windows:
        np.savez(a.save_windows, x=ws.x, y=ws.y, class_names=np.array(names))
        say(f"windows: {a.save_windows} ({len(ws)}; for `imuedge export --calibration`)")
    test_mask, holdout = choose_holdout(ws, a.holdout, a.seed, need)
    train, test = (ws, ws) if test_mask is None else (ws.subset(~test_mask), ws.subset(test_mask))
    say(f"evaluation: {holdout}")
    say(f"training windows: {class_counts(train.y, names)}")
    enc.fit_normalization(train.x)  # per-axis statistics of the training windows only
    shot_idx, pool = probe_windows(train.y, shots, a.seed)
    say(f"embedding {len(pool)} training windows (the probe's {len(shot_idx)}"
        + (f", {len(pool) - len(shot_idx)} more for the feature statistics" if len(pool) > len(shot_idx) else "")
        + f") with {enc_desc}")
    pool_f = fewshot.embed(enc, train.x[pool], progress=progress(say, "embedding"))
    head, mean, std = fewshot.fit_probe(pool_f, pool_f[np.searchsorted(pool, shot_idx)], train.y[shot_idx],
                                        len(names))
    model = classifier_from_probe(enc, head, mean, std)
    probe = f"{shots} labelled windows per class (seed {a.seed})" if shots else "all training windows"
    say(f"scoring {len(test)} {'held-out' if test_mask is not None else 'TRAINING'} windows")
    s = scores(test.y, fewshot.predict(model, test.x, progress=progress(say, "scoring")), names)
    s.update(holdout=holdout, held_out=test_mask is not None, held_out_subjects=held_out_subject_ids(ws, test_mask),
             held_out_recordings=[] if test_mask is None else sorted(set(ws.recording[test_mask].tolist())),
             subjects={str(k): v for k, v in ws.subject_names.items()})  # number -> the data's id
    print(f"linear probe on {probe}; scores on {'held-out' if test_mask is not None else 'TRAINING'} windows:")
    print(format_scores(s))
    spec = WindowSpec(ds.channels, ds.sample_rate_hz, window, hop)
    out = save_classifier(model, a.out, spec.to_dict(), {str(i): n for i, n in enumerate(names)},
                          checkpoint.provenance(seed=a.seed, data=str(a.data), encoder=enc_desc, shots=a.shots,
                                                probe=probe, training_windows=len(train)), evaluation=s)
    say(f"classifier: {out}; export it with `imuedge export {out} --format pte {calibration_flags(a)}`")
    return 0


def calibration_flags(a) -> str:
    """The `imuedge export` flags that calibrate on the data this command read."""
    if a.save_windows:
        return f"--calibration {a.save_windows}"
    flags = [f"--calibration {a.data}"]
    if a.data.lower() != "hapt":
        flags += [f"--{k.replace('_', '-')} {getattr(a, k)}" for k in ("rate", "acc_unit", "gyro_unit")
                  if getattr(a, k) is not None]
    return " ".join(flags)


STATS_WINDOWS = 512  # unlabelled training windows (at most) whose features standardise the probe's


def probe_windows(y, shots: int | None, seed: int, stats_windows: int | None = None):
    """(the probe's windows, the windows to embed): ``shots`` per class (all with None) and, for the feature
    statistics, up to ``stats_windows`` training windows drawn by ``seed`` (labels unused) -- every training
    window when there are no more than that, so a small folder gets the statistics of all of them. Sorted."""
    from imuedge.data import few_shot_indices

    n, stats_windows = len(y), STATS_WINDOWS if stats_windows is None else stats_windows
    if shots is None:
        return np.arange(n), np.arange(n)
    shot_idx = few_shot_indices(y, shots, seed)
    if n <= stats_windows + len(shot_idx):
        return shot_idx, np.arange(n)
    others = np.setdiff1d(np.arange(n), shot_idx)
    extra = np.random.default_rng([int(seed), 0x57A75]).choice(others, stats_windows, replace=False)
    return shot_idx, np.union1d(shot_idx, extra)


PROGRESS_EVERY_S = 5.0  # a long loop says how far it is this often


def progress(say, what: str):
    """A ``progress(done, total)`` callback that says how far a long loop is, at most every PROGRESS_EVERY_S."""
    import time

    last = [time.monotonic()]

    def report(done: int, total: int):
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S and done < total:
            last[0] = now
            say(f"{what}: {done}/{total} windows")

    return report


def _positive_int(text: str, flag: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v <= 0:
        raise CliError(f"{flag} {text!r}: expected a positive integer or all")
    return v


def _check_positive(a, *names) -> None:
    for name in names:
        if getattr(a, name) is not None and getattr(a, name) <= 0:
            raise CliError(f"--{name} {getattr(a, name)}: must be a positive number of samples")


# ---------------------------------------------------------------- eval
def run_eval(a) -> int:
    import torch

    from imuedge.train.fewshot import predict
    from imuedge.train.models import load_model
    from imuedge.window import WindowSpec

    say = lambda m: print(f"[imuedge eval] {m}", flush=True)  # noqa: E731
    if a.threads:
        torch.set_num_threads(a.threads)
    _check_positive(a, "hop")
    module, ckpt = load_model(a.model)
    labels = ckpt.get("label_names") or {}
    if "window" not in ckpt or not labels or not hasattr(module, "head"):
        raise CliError(f"{a.model}: not a classifier checkpoint (kind {ckpt.get('kind')!r}); it needs 'window' and "
                       f"'label_names' -- `imuedge train` writes one")
    spec = WindowSpec.from_dict(ckpt["window"])
    names = [str(labels.get(str(i), f"class_{i}")) for i in range(module.head.out_features)]
    if a.data.lower() != "hapt" and Path(a.data).is_file():
        x, true_names, scope = npz_for_eval(a, spec, names)
        hop = "as saved"
    else:
        x, true_names, scope = recordings_for_eval(a, spec, ckpt, say)
        hop = a.hop or spec.hop
    known = np.isin(true_names, names)
    if not known.all():
        other = {n: int((true_names == n).sum()) for n in sorted(set(true_names[~known]))}
        say(f"left out {int((~known).sum())} windows of classes the model does not know: {other}; "
            f"the model's classes: {names}")
    if not known.any():
        raise CliError(f"none of the labelled windows in {a.data} is of a class the model knows ({names})")
    y = np.array([names.index(n) for n in true_names[known]], dtype=np.int64)
    pred = predict(module, x[known], progress=progress(say, "scoring"))
    s = scores(y, pred, names)
    s["scored"] = scope
    say(f"{a.model} on {a.data}: {list(spec.channels)} at {spec.sample_rate_hz:g} Hz, windows of {spec.window} "
        f"samples, hop {hop}")
    say(f"scored {len(y)} windows: {scope['what']}")
    print(format_scores(s))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(s, f, indent=2)
    return 0




