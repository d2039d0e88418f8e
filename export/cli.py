"""`imuedge export`: a checkpoint -> ExecuTorch / LiteRT / ONNX bundles with parity reports."""
from __future__ import annotations

import argparse
import json
import sys

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
                        "windows for calibration, test-split windows with labels for parity) or an .npz with "
                        "x (N, C, T) float32 in physical units [and y (N,) labels] (default: hapt)")
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


def load_windows(source: str, window, n_cal: int, n_eval: int, seed: int = 0):
    """(calibration x, eval x, eval y or None, data description) from 'hapt' or an .npz."""
    import numpy as np

    rng = np.random.default_rng(seed)

    def pick(x, n):
        idx = np.sort(rng.choice(len(x), min(n, len(x)), replace=False))
        return idx

    if source == "hapt":
        from imuedge.data import load_hapt_windows

        if abs(window.sample_rate_hz - 50.0) > 1e-6:
            raise SystemExit(f"--calibration hapt: HAPT is 50 Hz but the model takes {window.sample_rate_hz} Hz; "
                             f"pass an .npz of windows at the model's rate")
        splits = load_hapt_windows(channels=tuple(window.channels), window=window.window, hop=window.hop, seed=0)
        train, test = splits["train"], splits["test"]
        ci, ei = pick(train.x, n_cal), pick(test.x, n_eval)
        data = {"source": "hapt", "calibration": f"{len(ci)} HAPT train-split windows",
                "parity": f"{len(ei)} HAPT test-split windows (subject-disjoint)",
                "label_names": {str(k): v for k, v in train.label_names.items()}}
        return train.x[ci], test.x[ei], test.y[ei], data
    with np.load(source, allow_pickle=False) as z:
        if "x" not in z:
            raise SystemExit(f"{source}: no array 'x' (N, C, T) in the .npz")
        x = np.asarray(z["x"], dtype=np.float32)
        y = np.asarray(z["y"], dtype=np.int64) if "y" in z else None
    expected = (len(window.channels), window.window)
    if x.ndim != 3 or tuple(x.shape[1:]) != expected:
        raise SystemExit(f"{source}: x has shape {x.shape}; the model takes (N, {expected[0]}, {expected[1]})")
    perm = rng.permutation(len(x))
    ci = np.sort(perm[:n_cal])
    rest = perm[n_cal:] if len(x) > n_cal + 1 else perm
    ei = np.sort(rest[:n_eval])
    data = {"source": source, "calibration": f"{len(ci)} windows", "parity": f"{len(ei)} windows"}
    return x[ci], x[ei], (y[ei] if y is not None else None), data


def run(a) -> int:
    import torch

    from .pipeline import FORMATS, PRECISIONS, Limits, export_bundles
    from .target import target_from_checkpoint

    torch.set_num_threads(max(1, a.threads))
    target = target_from_checkpoint(a.checkpoint)
    formats = FORMATS if a.format == "all" else (a.format,)
    precisions = PRECISIONS if a.precision == "all" else (a.precision,)
    if a.format == "torch" and a.precision == "all":
        precisions = ("fp32",)
    cal, ex, ey, data = load_windows(a.calibration, target.window, a.calibration_windows, a.parity_windows, a.seed)
    if len(ex) < 256:
        print(f"[export] warning: parity on {len(ex)} windows (< 256)", file=sys.stderr)
    if ey is not None and target.task == "classify" and ey.max(initial=0) >= len(target.output["class_names"]):
        ey = None  # labels from another label space: agreement only
    summary = export_bundles(target, a.out, formats, precisions, calibration=cal, eval_x=ex, eval_y=ey, data=data,
                             seed=a.seed, threads=a.threads,
                             limits=Limits(fp32_max_abs=a.fp32_tolerance, int8_min_agreement=a.min_int8_agreement,
                                           int8_max_f1_drop=a.max_int8_f1_drop,
                                           int8_max_size_ratio=a.max_int8_size_ratio))
    print(json.dumps({k: v["status"] for k, v in summary["results"].items()}))
    return 0 if summary["ok"] else 1
