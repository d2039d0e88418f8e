"""imuedge.export: checkpoints -> ExecuTorch / LiteRT / ONNX bundles, and one loader for all.

    target = target_from_checkpoint("model.pt")          # or ExportTarget(module, task, window, output)
    export_bundles(target, "out", ("pte", "tflite", "onnx"), ("fp32", "int8"),
                   calibration=x_cal, eval_x=x_eval, eval_y=y_eval)
    p = load_bundle("out/pte-int8", threads=1); p.predict(window)

Backends are imported only when used, so ``import imuedge.export`` is light.
"""
from __future__ import annotations

import importlib

_LAZY = {
    "ExportTarget": ".target", "ExportError": ".target", "target_from_checkpoint": ".target",
    "load_bundle": "imuedge.bundle", "read_manifest": "imuedge.bundle", "BundleError": "imuedge.bundle",
    "Predictor": "imuedge.bundle", "SCHEMA_VERSION": "imuedge.bundle", "MANIFEST": "imuedge.bundle",
    "export_bundles": ".make_bundles", "Limits": ".make_bundles", "FORMATS": ".make_bundles", "PRECISIONS": ".make_bundles",
    "parity_report": ".parity",
}
__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
