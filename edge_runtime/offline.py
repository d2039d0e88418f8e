"""Offline reference: the predictions the live pipeline must reproduce on the same samples.

``offline_predictions(recording, bundle)`` cuts windows at ``0, hop, 2*hop ...`` (the
live windower's boundaries), predicts them one by one with the bundle's predictor and
returns records shaped like the live sink's (``window``, ``start``, ``index``, ``class``,
``scores``). Given the samples the device actually sent (``simulator.expected_stream``)
the live and offline records must be equal, element for element.
"""
from __future__ import annotations

import numpy as np

from imuedge.manifest import window_spec


def _predictor(bundle, threads: int = 1):
    if hasattr(bundle, "predict") and hasattr(bundle, "manifest"):
        return bundle
    from imuedge.bundle import load_bundle

    return load_bundle(bundle, threads=threads)


def offline_predictions(recording, bundle, channels=None, rate: float | None = None, hop: int | None = None) -> list[dict]:
    """recording: a ``Recording`` or a float32 (C, n) array (then ``channels``, default the model's)."""
    pred = _predictor(bundle)
    m = pred.manifest
    spec = window_spec(m)
    want = list(spec.channels)
    if not isinstance(recording, np.ndarray) and hasattr(recording, "channels"):
        data, have, rate = recording.data, list(recording.channels), recording.sample_rate_hz
    else:
        data, have = np.asarray(recording, np.float32), list(channels or want)
    missing = [c for c in want if c not in have]
    if missing:
        raise ValueError(f"the recording has channels {have}, the model needs {want} (missing {missing})")
    if rate is not None and abs(rate / spec.sample_rate_hz - 1) > 0.01:
        raise ValueError(f"the recording is at {rate:g} Hz, the model expects {spec.sample_rate_hz:g} Hz")
    x = np.ascontiguousarray(np.asarray(data, np.float32)[[have.index(c) for c in want]])
    W, hop = spec.window, int(hop or spec.hop)
    names = m.get("output", {}).get("class_names")
    out = []
    for i, s in enumerate(range(0, x.shape[1] - W + 1, hop)):
        y = np.asarray(pred.predict(x[:, s:s + W])).reshape(-1)
        rec = {"window": i, "start": s}
        if m.get("task", "classify") == "classify":
            k = int(np.argmax(y))
            rec.update(index=k, scores=[float(v) for v in y],
                       **{"class": names[k] if names and k < len(names) else str(k)})
        else:
            rec["embedding"] = [float(v) for v in y]
        out.append(rec)
    return out
