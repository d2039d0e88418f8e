"""`imuedge export`: a checkpoint -> ExecuTorch / LiteRT / ONNX bundles with parity reports."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from imuedge.data.cli import add_recording_flags, warnings_as_lines
from imuedge.window import CHANNELS

HELP = """\
Export an imuedge checkpoint to on-device bundles, one folder per format x
precision (OUT/pte-int8/model.pte + imuedge.json, ...). Each bundle is loaded
back in its real runtime and compared with the PyTorch model on real windows;
the manifest holds the parity report. A format that cannot be produced (an op
the backend cannot lower, int8 that did not come out int8, parity outside the
limits) is reported by name and skipped; the others are still written.
Exit status: 0 if every requested bundle was written, 1 otherwise.
Load a bundle with `imuedge.load_bundle(path).predict(window)`.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export a checkpoint to .pte / .tflite / .onnx bundles",
                              description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="imuedge checkpoint (.pt) of a classifier or encoder")
    p.add_argument("--format", default="all", choices=["pte", "tflite", "onnx", "torch", "all"],
                   help="pte: ExecuTorch + XNNPACK; tflite: LiteRT; onnx: onnxruntime; torch: torch.export "
                        "reference (.pt2, fp32); all: pte, tflite and onnx (default: all)")
    p.add_argument("--precision", default="all", choices=["fp32", "int8", "all"],
                   help="fp32, int8 (static: per-channel int8 weights, calibrated int8 activations; the "
                        "spectrogram preprocessing stays float) or all (default: all)")
    p.add_argument("--calibration", default="hapt", metavar="DATA",
                   help="windows for int8 calibration and for the parity check: 'hapt' (HAPT training-split "
                        "windows for calibration, test-split windows with labels for parity; only for a model "
                        "of HAPT's six channels at 50 Hz whose classes are HAPT activities), a folder of CSV "
                        "recordings (read with --rate, --acc-unit, --gyro-unit as `imuedge train` reads them; "
                        "resampled to the model's rate; labels matched to the model's classes by name), or an "
                        ".npz with x (N, C, T) float32 in physical units [and y (N,) labels] (default: hapt)")
    add_recording_flags(p, applies="--calibration FOLDER: ")
    p.add_argument("--out", default="exports", metavar="DIR", help="output folder (default: exports)")
    p.add_argument("--calibration-windows", type=int, default=200, metavar="N",
                   help="windows used to calibrate int8 (default: 200)")
    p.add_argument("--parity-windows", type=int, default=512, metavar="N",
                   help="windows for the parity report, at least 256 recommended (default: 512)")
    p.add_argument("--seed", type=int, default=0, help="seed for choosing windows (default: 0)")
    p.add_argument("--threads", type=int, default=1, help="runtime threads while checking parity (default: 1)")
    p.add_argument("--fp32-tolerance", type=float, default=1e-4, metavar="TOL",
                   help="refuse an fp32 bundle whose max abs output error vs PyTorch exceeds TOL on the parity "
                        "windows (absolute; default: 1e-4)")
    p.add_argument("--min-int8-agreement", type=float, default=0.98, metavar="A",
                   help="refuse an int8 classifier whose top-1 agreement with fp32 is below A (default: 0.98)")
    p.add_argument("--max-int8-f1-drop", type=float, default=0.02, metavar="D",
                   help="refuse an int8 classifier whose macro-F1 on labelled parity windows is more than D "
                        "below the fp32 model's (default: 0.02)")
    p.add_argument("--max-int8-size-ratio", type=float, default=0.35, metavar="R",
                   help="refuse an int8 artifact larger than R x the fp32 artifact of the same format "
                        "(checked when both precisions are exported; default: 0.35)")
    p.set_defaults(func=run)


class CalibrationError(ValueError):
    """--calibration names data that cannot calibrate or check this model; printed as one line."""


def hapt_mismatch(window, class_names) -> str | None:
    """Why HAPT windows cannot stand in for a model's own data (channels, rate or classes differ), or None."""
    from imuedge.data import HAPT_LABEL_NAMES

    if tuple(window.channels) != CHANNELS:
        return f"the model takes {list(window.channels)}, HAPT has {list(CHANNELS)}"
    if abs(window.sample_rate_hz - 50.0) > 1e-6:
        return f"the model takes {window.sample_rate_hz:g} Hz, HAPT is 50 Hz"
    other = [n for n in class_names or () if n not in HAPT_LABEL_NAMES.values()]
    if other:
        return f"the model's classes {other} are not HAPT activities"
    return None


def load_windows(source: str, window, n_cal: int, n_eval: int, seed: int = 0, class_names=None, data_flags=None):
    """(calibration x, eval x, eval y or None, data description) from 'hapt', a folder of recordings or an .npz.

    ``class_names``: a classifier's classes; labels (HAPT's, a folder's) are matched to them by name.
    ``data_flags``: how to read a folder (an ``argparse.Namespace`` with rate, acc_unit, gyro_unit, strict,
    max_acc, max_gyro, as `imuedge train` takes them).
    """
    import numpy as np

    rng = np.random.default_rng(seed)

    def pick(x, n):
        idx = np.sort(rng.choice(len(x), min(n, len(x)), replace=False))
        return idx

    if source == "hapt":
        from imuedge.data import load_hapt_windows

        why = hapt_mismatch(window, class_names)
        if why:
            raise CalibrationError(f"--calibration hapt: {why}; pass your own data instead: --calibration FOLDER "
                                   f"(your recordings, with the --rate/--acc-unit/--gyro-unit of `imuedge train`) "
                                   f"or --calibration FILE.npz (`imuedge train --save-windows`)")
        splits = load_hapt_windows(channels=tuple(window.channels), window=window.window, hop=window.hop, seed=0)
        train, test = splits["train"], splits["test"]
        ci, ei = pick(train.x, n_cal), pick(test.x, n_eval)
        data = {"source": "hapt", "calibration": f"{len(ci)} HAPT train-split windows",
                "parity": f"{len(ei)} HAPT test-split windows (subject-disjoint)",
                "label_names": {str(k): v for k, v in train.label_names.items()}}
        return train.x[ci], test.x[ei], by_name(test.y[ei], test.label_names, class_names), data
    path = Path(source)
    if path.is_dir():
        x, y, data = folder_windows(path, window, class_names, data_flags)
    elif not path.exists():
        raise CalibrationError(f"--calibration {source}: no such file or folder; pass hapt, a folder of CSV "
                               f"recordings or an .npz of windows")
    else:
        x, y, names = npz_windows(path, window)
        if names is not None and y is not None and class_names is not None:  # the file names its classes
            y = by_name(y, dict(enumerate(names)), class_names)
        data = {"source": source}
    perm = rng.permutation(len(x))
    ci = np.sort(perm[:n_cal])
    rest = perm[n_cal:] if len(x) > n_cal + 1 else perm
    ei = np.sort(rest[:n_eval])
    data.update(calibration=f"{len(ci)} windows", parity=f"{len(ei)} windows")
    return x[ci], x[ei], (y[ei] if y is not None else None), data


def by_name(y, label_names: dict, class_names):
    """Labels renumbered to the model's ``class_names`` by name; None when a window's class is not one of them."""
    import numpy as np

    if class_names is None or y is None:
        return None
    names = [label_names.get(int(c)) for c in y]
    if any(n not in class_names for n in names):
        return None
    return np.array([class_names.index(n) for n in names], dtype=np.int64)


def npz_windows(path: Path, window):
    """(x, y or None, class names or None) from an .npz with x (N, C, T) [and y (N,), class_names]."""
    from imuedge.data.windows import read_windows_npz

    try:
        x, y, names = read_windows_npz(path)
    except ValueError as e:
        raise CalibrationError(f"--calibration {e}; pass hapt, a folder of CSV recordings or an .npz of windows") \
            from None
    expected = (len(window.channels), window.window)
    if tuple(x.shape[1:]) != expected:
        raise CalibrationError(f"{path}: x has shape {x.shape}; the model takes (N, {expected[0]}, {expected[1]})")
    return x, y, names


def folder_windows(folder: Path, window, class_names, flags):
    """(x, y or None, data description) of a folder of recordings in the model's channels, rate and window:
    windows of the model's classes (labels by name) when the folder has them, else windows over whole recordings."""
    import numpy as np

    from imuedge.data import Dataset, make_windows, resample_dataset, unlabelled_windows
    from imuedge.train.user_data import load_data, select_channels
    from imuedge.window import MAX_ACC, MAX_GYRO

    say = lambda m: print(f"[export] {m}", file=sys.stderr, flush=True)  # noqa: E731
    defaults = dict(rate=None, acc_unit=None, gyro_unit=None, strict=False, max_acc=MAX_ACC, max_gyro=MAX_GYRO)
    ds, _ = load_data(argparse.Namespace(data=str(folder), **{k: getattr(flags, k, v) for k, v in defaults.items()}),
                      say)
    ds = select_channels(ds, window.channels, "the model")
    if abs(ds.sample_rate_hz - window.sample_rate_hz) > 0.02 * window.sample_rate_hz:
        say(f"{folder}: {ds.sample_rate_hz:g} Hz resampled to the model's {window.sample_rate_hz:g} Hz")
        ds = resample_dataset(ds, window.sample_rate_hz)
    data = {"source": str(folder)}
    known = {k: n for k, n in ds.label_names.items() if class_names is None or n in class_names}
    ws = make_windows(ds, window.window, window.hop, sorted(known)) if known else None
    if ws is not None and len(ws):
        y = None
        if class_names is not None:
            y = np.array([class_names.index(ds.label_names[int(c)]) for c in ws.y], dtype=np.int64)
        data["labels"] = "matched to the model's classes by name" if y is not None else "none used"
        return ws.x, y, data
    try:
        ws = unlabelled_windows(Dataset(ds.recordings, {}, ds.name), window.window, window.hop)
    except ValueError:
        raise CalibrationError(f"--calibration {folder}: no recording is one window long ({window.window} samples "
                               f"at {window.sample_rate_hz:g} Hz)") from None
    data["labels"] = "none (no labelled window of the model's classes)"
    return ws.x, None, data


def run(a) -> int:
    import torch

    from .make_bundles import FORMATS, PRECISIONS, Limits, export_bundles
    from .target import target_from_checkpoint

    torch.set_num_threads(max(1, a.threads))
    target = target_from_checkpoint(a.checkpoint)
    formats = FORMATS if a.format == "all" else (a.format,)
    precisions = PRECISIONS if a.precision == "all" else (a.precision,)
    if a.format == "torch" and a.precision == "all":
        precisions = ("fp32",)
    classes = target.output["class_names"] if target.task == "classify" else None
    with warnings_as_lines():
        cal, ex, ey, data = load_windows(a.calibration, target.window, a.calibration_windows, a.parity_windows,
                                         a.seed, class_names=classes, data_flags=a)
    if len(ex) < 256:
        print(f"[export] warning: parity on {len(ex)} windows (< 256)", file=sys.stderr)
    if ey is not None and classes is not None and (ey.max(initial=0) >= len(classes) or ey.min(initial=0) < 0):
        ey = None  # labels from another label space: agreement only
    summary = export_bundles(target, a.out, formats, precisions, calibration=cal, eval_x=ex, eval_y=ey, data=data,
                             seed=a.seed, threads=a.threads,
                             limits=Limits(fp32_max_abs=a.fp32_tolerance, int8_min_agreement=a.min_int8_agreement,
                                           int8_max_f1_drop=a.max_int8_f1_drop,
                                           int8_max_size_ratio=a.max_int8_size_ratio))
    print(json.dumps({k: v["status"] for k, v in summary["results"].items()}))
    return 0 if summary["ok"] else 1
