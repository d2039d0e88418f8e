"""Parity of an exported bundle against the PyTorch fp32 model, on real windows."""
from __future__ import annotations

import time

import numpy as np


def _macro_f1(y_true, y_pred, k):
    from imuedge.train.metrics import macro_f1
    return macro_f1(y_true, y_pred, k)


def parity_report(predictor, reference: np.ndarray, x: np.ndarray, y: np.ndarray | None, task: str,
                  precision: str) -> dict:
    """Compare ``predictor.predict(x)`` with ``reference`` (PyTorch fp32 outputs on ``x``).

    Always: max / mean abs error, windows, latency per window (this machine,
    ``predictor.threads`` threads). classify: top-1 agreement with fp32 and,
    with labels, macro-F1 of the PyTorch fp32 model and of this bundle.
    embed: cosine similarity of embeddings (mean, min).
    """
    t0 = time.perf_counter()
    out = predictor.predict(x)
    seconds = time.perf_counter() - t0
    ref = np.asarray(reference, dtype=np.float32)
    err = np.abs(out.astype(np.float64) - ref.astype(np.float64))
    rep = {
        "windows": int(len(x)),
        "reference": "PyTorch fp32 (eval) on the same windows",
        "max_abs_error": float(err.max()) if err.size else 0.0,
        "mean_abs_error": float(err.mean()) if err.size else 0.0,
        "reference_abs_max": float(np.abs(ref).max()) if ref.size else 0.0,
        "max_rel_error": float(err.max() / max(1e-12, np.abs(ref).max())) if err.size else 0.0,
        "latency_ms_per_window": round(1000 * seconds / max(1, len(x)), 4),
        "threads": predictor.threads,
    }
    if task == "classify":
        k = ref.shape[1]
        pred, pref = out.argmax(1), ref.argmax(1)
        rep["top1_agreement"] = float(np.mean(pred == pref))
        if y is not None:
            y = np.asarray(y, dtype=np.int64)
            rep["labels"] = "real labels of the parity windows"
            rep["macro_f1_fp32"] = _macro_f1(y, pref, k)
            rep[f"macro_f1_{precision}"] = _macro_f1(y, pred, k)
            rep["accuracy_fp32"] = float(np.mean(pref == y))
            rep[f"accuracy_{precision}"] = float(np.mean(pred == y))
    else:
        num = (out * ref).sum(1)
        den = np.linalg.norm(out, axis=1) * np.linalg.norm(ref, axis=1) + 1e-12
        cos = num / den
        rep["cosine_mean"] = float(cos.mean())
        rep["cosine_min"] = float(cos.min())
    return rep
