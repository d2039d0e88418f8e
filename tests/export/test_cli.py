"""`imuedge export` is registered, documented, and runs end to end on an .npz."""
from __future__ import annotations

import json

import numpy as np

from imuedge.cli import build_parser, main


def test_help_documents_every_flag():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    export = sub.choices["export"]
    text = export.format_help()
    for flag in ("--format", "--precision", "--calibration", "--out", "--calibration-windows",
                 "--parity-windows", "--seed", "--threads", "--fp32-tolerance", "--min-int8-agreement"):
        assert flag in text
    for action in export._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, action.dest


def test_cli_export_onnx_fp32_from_npz(trained_checkpoint, tmp_path, make_windows):
    x, y = make_windows(300, seed=5)
    npz = tmp_path / "windows.npz"
    np.savez(npz, x=x, y=y)
    out = tmp_path / "out"
    rc = main(["export", str(trained_checkpoint), "--format", "onnx", "--precision", "fp32",
               "--calibration", str(npz), "--out", str(out), "--calibration-windows", "16",
               "--parity-windows", "256"])
    assert rc == 0
    manifest = json.loads((out / "onnx-fp32" / "imuedge.json").read_text())
    assert manifest["parity"]["windows"] == 256 and manifest["provenance"]["data"]["source"] == str(npz)
