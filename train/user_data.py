"""The user's labelled data for `imuedge train`, `imuedge eval` and `imuedge export --calibration`.

``--data`` names it one way everywhere: ``hapt``, a folder of CSV recordings (the format
`imuedge record` writes), or -- where windows are enough -- an ``.npz`` of windows. This module
loads it (malformed files skipped and named), keeps the channels a model takes, brings it to an
encoder's sample rate, cuts labelled windows (or says why there are none), chooses the held-out
windows (other subjects, a different set per seed; else other recordings) and, for `eval`, the
windows a checkpoint's held-out subjects name. Every problem with the data or the flags is a
``CliError``: one line, exit status 2.
"""
from __future__ import annotations

import re

import numpy as np


class CliError(ValueError):
    """A problem with the user's data or flags; printed as one line, exit status 2."""


def load_data(a, say):
    """(Dataset, classes to keep or None) from --data and the unit flags."""
    from imuedge.data import BASIC_ACTIVITIES, load_hapt, load_recordings

    if a.data.lower() == "hapt":
        return load_hapt(), BASIC_ACTIVITIES
    try:
        ds, errors = load_recordings(a.data, rate=a.rate, acc_unit=a.acc_unit, gyro_unit=a.gyro_unit,
                                     strict=a.strict, max_acc=a.max_acc, max_gyro=a.max_gyro)
    except ValueError as e:
        if type(e) is not ValueError:
            raise
        raise CliError(str(e)) from None
    for err in errors:
        say(f"skipped a malformed file: {err}")
    disagree = sorted({m.group(1) for e in errors for m in [re.search(r"timestamps show (\S+) Hz but rate=", str(e))]
                       if m})
    if disagree:
        say(f"--rate {a.rate:g} disagrees with the timestamps of {sum(1 for e in errors if 'but rate=' in str(e))} "
            f"file(s), which show {', '.join(disagree)} Hz; leave out --rate to take the timestamps' rate")
    if not ds.recordings:
        raise CliError(f"no recording in {a.data} could be loaded ({len(errors)} malformed)")
    return ds, None


def select_channels(ds, channels, what: str):
    """The dataset restricted to ``channels``; an error naming both sides if it lacks some."""
    from imuedge.data import Dataset

    missing = [c for c in channels if c not in ds.channels]
    if missing:
        raise CliError(f"{what} takes channels {list(channels)} but the data in {ds.name!r} has "
                       f"{list(ds.channels)} (missing {missing})")
    if tuple(channels) == tuple(ds.channels):
        return ds
    return Dataset([r.select(tuple(channels)) for r in ds.recordings], ds.label_names, ds.name)


def cut_windows(ds, window: int, hop: int, classes=None):
    """Labelled windows, or an error saying why there are none."""
    from imuedge.data import make_windows
    from imuedge.data.windows import label_runs

    rate = ds.sample_rate_hz
    ws = make_windows(ds, window, hop, classes)
    if len(ws):
        return ws
    longest = max(r.num_samples for r in ds.recordings)
    if longest < window:
        raise CliError(f"the window ({window} samples, {window / rate:.2f} s at {rate:g} Hz) is longer than every "
                       f"recording in {ds.name!r} (the longest has {longest} samples, {longest / rate:.2f} s); "
                       f"use an encoder with a shorter window (or --encoder random with a --window of at most "
                       f"{longest}), or record longer")
    runs = [b - a for r in ds.recordings for a, b, c in label_runs(r.labels) if classes is None or c in classes]
    if not runs:
        raise CliError(f"no labelled samples in {ds.name!r}: add a label column (e.g. `imuedge record --label "
                       f"walking`)")
    raise CliError(f"no labelled windows in {ds.name!r}: the longest labelled stretch has {max(runs)} samples, "
                   f"shorter than one window ({window} samples, {window / rate:.2f} s)")


def subject_list(ds) -> str:
    """'3 subjects: p01, p02, 7' -- the ids as the data writes them."""
    names = ds.subject_names
    return f"{len(names)} subject{'s' * (len(names) != 1)}: {', '.join(names.values())}"


def class_counts(y, names) -> str:
    return ", ".join(f"{names[c]} {int((y == c).sum())}" for c in range(len(names)))


def choose_holdout(ws, mode: str, seed: int, need: int):
    """(test mask or None, description): held-out groups leaving >= ``need`` training windows per class."""
    from imuedge.data import distinct_subject_split

    k = int(ws.y.max()) + 1

    def ok(mask):
        return mask.any() and (~mask).any() and all(int((ws.y[~mask] == c).sum()) >= need for c in range(k))

    reasons = []
    for key in (("subject", "recording") if mode == "auto" else () if mode == "none" else (mode,)):
        groups = ws.subject if key == "subject" else ws.recording.astype(str)
        ids = sorted(set(groups.tolist()))
        if len(ids) < 2:
            reasons.append(f"one {key} only")
            continue
        candidates = []
        if key == "subject" and len(ids) >= 3:
            candidates.append(distinct_subject_split(ids, seed)["test"])  # no two seeds hold out the same set
        # greedy, in seeded order: add the group holding the class least represented in the test set so far,
        # as long as every class keeps `need` training windows, until the test set has ~20% of the windows
        order = [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]
        test = []
        while np.isin(groups, test).sum() < 0.2 * len(ws):
            in_test = ws.y[np.isin(groups, test)]
            wanted = min(range(k), key=lambda c: int((in_test == c).sum()))
            fits = [g for g in order if g not in test and ok(np.isin(groups, test + [g]))]
            if not fits:
                break
            test.append(next((g for g in fits if (ws.y[groups == g] == wanted).any()), fits[0]))
        candidates.append(sorted(test))
        for test in candidates:
            mask = np.isin(groups, test)
            if test and ok(mask):
                named = (lambda g: ws.subject_label(g)) if key == "subject" else str
                kept = ", ".join(named(g) for g in sorted(set(ids) - set(test)))
                return mask, f"held-out {key}s {', '.join(named(g) for g in test)} (training on {kept})"
        reasons.append(f"no {key} can be held out leaving {need} training window(s) of every class")
    if mode not in ("auto", "none"):
        raise CliError(f"--holdout {mode}: {reasons[-1]}")
    why = "; ".join(reasons) or "--holdout none"
    return None, (f"NO HELD-OUT DATA ({why}): scores are on the TRAINING windows and overstate accuracy; "
                  f"record another session or subject for a real test")


def held_out_subject_ids(ws, test_mask) -> list[str]:
    """The held-out subjects' ids (as the data writes them) when no training window is theirs; else []."""
    if test_mask is None:
        return []
    test, train = set(ws.subject[test_mask].tolist()), set(ws.subject[~test_mask].tolist())
    return [] if test & train else [ws.subject_label(s) for s in sorted(test)]


def encoder_rate(path: str) -> float | None:
    """The sample rate an encoder checkpoint records (its 'window' entry), or None (random, or not recorded)."""
    from imuedge import checkpoint
    from imuedge.window import WindowSpec

    if path == "random":
        return None
    window = checkpoint.load(path).get("window")
    try:
        return float(WindowSpec.from_dict(window).sample_rate_hz) if window else None
    except (ValueError, TypeError, KeyError):
        return None


def at_encoder_rate(ds, encoder: str, window: int, say, keep: bool = False):
    """The dataset at the rate the encoder records (resampled, anti-aliased, and said); as it is when the
    encoder records none, or with ``keep`` (said, with what a window then spans)."""
    from imuedge.data import resample_dataset

    rate, have = encoder_rate(encoder), ds.sample_rate_hz
    if rate is None:
        if encoder != "random":
            say(f"the encoder {encoder} does not record its sample rate: its {window}-sample windows are "
                f"{window / have:.2f} s of this {have:g} Hz data")
        return ds
    if abs(have - rate) <= 0.02 * rate:
        return ds
    if keep:
        say(f"the data is at {have:g} Hz, the encoder at {rate:g} Hz; --keep-rate: not resampling, so its "
            f"{window}-sample windows span {window / have:.2f} s here against {window / rate:.2f} s in pretraining")
        return ds
    say(f"the data is at {have:g} Hz, the encoder at {rate:g} Hz ({window} samples = {window / rate:.2f} s): "
        f"resampling the data to {rate:g} Hz (anti-aliased; --keep-rate trains on it as it is, with "
        f"{window / have:.2f} s windows)")
    return resample_dataset(ds, rate)


def scored_recordings(ds, a, evaluation: dict):
    """(the recordings to score, what they are) from --subjects and the held-out data the checkpoint records:
    --subjects LIST, else the model's held-out subjects (or recordings) when the folder has them, else all."""
    from imuedge.data import Dataset
    from imuedge.data.recordings import subject_key

    held = [str(s) for s in evaluation.get("held_out_subjects") or []]
    held_recs = [str(r) for r in evaluation.get("held_out_recordings") or []]
    trained_on = sorted(set((evaluation.get("subjects") or {}).values()) - set(held)) if held else []
    choice = (a.subjects or "").strip()

    def keep(test, why):
        out = Dataset([r for r in ds.recordings if test(r)], ds.label_names, ds.name)
        subjects = sorted({r.subject_label for r in out.recordings})
        return out, {"subjects": subjects, "recordings": len(out.recordings), "what": why(subjects)}

    if choice and choice.lower() != "all":
        wanted = {subject_key(s) for s in choice.split(",") if s.strip()}
        out, scope = keep(lambda r: r.subject_label in wanted, lambda subj: f"subjects {', '.join(subj)} (--subjects)")
        if not out.recordings:
            raise CliError(f"no recording of subjects {', '.join(sorted(wanted))} in {a.data} (it has "
                           f"{', '.join(ds.subject_names.values())})")
    elif not choice and held and {r.subject_label for r in ds.recordings} & set(held):
        out, scope = keep(lambda r: r.subject_label in held, lambda subj: (
            f"the model's held-out subjects {', '.join(subj)} (recorded in {a.model}; --subjects all scores every "
            f"window)"))
    elif not choice and not held and held_recs and {r.recording_id for r in ds.recordings} & set(held_recs):
        out, scope = keep(lambda r: r.recording_id in held_recs, lambda subj: (
            f"the model's {sum(r.recording_id in held_recs for r in ds.recordings)} held-out recordings (recorded "
            f"in {a.model}; --subjects all scores every window)"))
    else:
        out, scope = keep(lambda r: True, lambda subj: f"every window, subjects {', '.join(subj)}")
    seen = sorted(set(scope["subjects"]) & set(trained_on))
    if seen:
        scope["what"] += (f"; subjects {', '.join(seen)} share ids with the model's training subjects: if they are "
                          f"the same people, these scores overstate accuracy")
        scope["training_subjects"] = seen
    return out, scope


def npz_for_eval(a, spec, names):
    """(x, true class names, scope) from an .npz of windows (`imuedge train --save-windows`)."""
    from imuedge.data.windows import read_windows_npz

    if a.subjects:
        raise CliError(f"--subjects: {a.data} is an .npz of windows, which records no subjects")
    x, y, file_names = read_windows_npz(a.data)
    if tuple(x.shape[1:]) != (len(spec.channels), spec.window):
        raise CliError(f"{a.data}: x has shape {x.shape}; the model takes windows ({len(spec.channels)} channels "
                       f"{list(spec.channels)}, {spec.window} samples at {spec.sample_rate_hz:g} Hz)")
    if y is None:
        raise CliError(f"{a.data}: no labels (an array y of class indices) to score against")
    if file_names is None and len(y) and y.max() >= len(names):
        raise CliError(f"{a.data}: y holds class {int(y.max())} but the model has {len(names)} classes and the "
                       f".npz names none (class_names)")
    true_names = np.array([(file_names or names)[int(c)] for c in y])
    return x, true_names, {"subjects": [], "recordings": 0,
                           "what": f"every window of {a.data} (an .npz: windows as saved, subjects unknown)"}


def recordings_for_eval(a, spec, ckpt, say):
    """(x, true class names, scope) from hapt or a folder: the windows --subjects (or the checkpoint's held-out
    subjects) pick, at the model's channels, rate and window."""
    from imuedge.data import resample_dataset

    ds, keep = load_data(a, say)
    ds, scope = scored_recordings(ds, a, ckpt.get("evaluation") or {})
    ds = select_channels(ds, spec.channels, f"the model {a.model}")
    if abs(ds.sample_rate_hz - spec.sample_rate_hz) > 0.02 * spec.sample_rate_hz:
        say(f"the data is at {ds.sample_rate_hz:g} Hz, the model at {spec.sample_rate_hz:g} Hz: resampling")
        ds = resample_dataset(ds, spec.sample_rate_hz)
    ws = cut_windows(ds, spec.window, a.hop or spec.hop, keep)
    return ws.x, np.array([ds.label_names.get(int(c), str(int(c))) for c in ws.y]), scope
