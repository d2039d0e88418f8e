"""A device install: a fresh venv with only ``imuedge[device]`` (no PyTorch) streams .onnx and .tflite bundles.

The venv is made from scratch by pip's ordinary resolver with the project's constraints
(``benchmarks/device_install.py``), so a torch that any device dependency (or the core) pulled in would be
installed, and caught. The bundles are exported in
the test's own (full) environment; a device-simulator process plays a HAPT recording on a pseudo-terminal
and ``imuedge stream`` / ``imuedge record`` run in the device venv under a watcher that records every
attempt to import ``torch`` (also the ones a ``try: import torch`` would swallow). Predictions must equal
the offline predictions of the same samples, element for element.
"""
from __future__ import annotations

import contextlib
import json
import subprocess

import numpy as np
import pytest

from benchmarks.device_install import SERVER_SIDE, installed, make_device_venv
from imuedge.edge_runtime.offline import offline_predictions
from imuedge.emulation.simulator import expected_stream, start_simulator

from .conftest import export_small, write_csv

pytest.importorskip("serial")

N = 600  # samples streamed: 8 windows of 128, hop 64

# Runs an `imuedge` command line in the device venv and writes, at exit, every import of torch it tried.
WATCH = """
import atexit, importlib.abc, json, sys
report, argv = sys.argv[1], sys.argv[2:]
tried = []
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            tried.append(name)
        return None
sys.meta_path.insert(0, Watch())
def write():
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "torch")
    with open(report, "w") as f:
        json.dump({"tried": tried, "loaded": loaded}, f)
atexit.register(write)
from imuedge.cli import main
sys.exit(main(argv))
"""


@pytest.fixture(scope="module")
def device_python(tmp_path_factory):
    """The python of a fresh venv holding ``imuedge[device]`` and what pip resolves for it, nothing else."""
    folder = tmp_path_factory.mktemp("device")
    with contextlib.chdir(folder.parent):  # a relative folder, as `stream_bench --device-venv runs/dev` gives it
        python = make_device_venv(folder.name)
    assert python.is_absolute()  # the tests run it from other folders
    names = set(installed(python))
    assert {"imuedge", "numpy", "scipy", "pyserial", "bleak", "onnxruntime", "ai-edge-litert"} <= names
    assert not names & set(SERVER_SIDE), sorted(names)
    return python


@pytest.fixture(scope="module")
def device_bundles(tmp_path_factory, hapt_test_recording):
    return {fmt: export_small(tmp_path_factory, hapt_test_recording, fmt) for fmt in ("onnx", "tflite")}


def run_device(py, tmp_path, *argv, timeout=120):
    """``imuedge ARGV`` in the device venv: (completed process, the torch imports it tried or loaded)."""
    report = tmp_path / "imports.json"
    r = subprocess.run([str(py), "-c", WATCH, str(report), *map(str, argv)], capture_output=True, text=True,
                       timeout=timeout, cwd=tmp_path)
    assert report.is_file(), r.stderr[-3000:]
    imports = json.loads(report.read_text())
    return r, imports["tried"] + imports["loaded"]


def test_help_and_device_commands_start_without_torch(device_python, tmp_path):
    for argv in (["--help"], ["stream", "--help"], ["record", "--help"], ["devices", "--help"],
                 ["devices", "list", "--ble-timeout", "0"]):
        r, torch_imports = run_device(device_python, tmp_path, *argv)
        assert r.returncode == 0, (argv, r.stderr[-2000:])
        assert torch_imports == [], (argv, torch_imports)


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_device_install_streams_bundle_over_pty_equal_to_offline(fmt, device_python, device_bundles,
                                                                 hapt_test_recording, tmp_path):
    from imuedge.bundle import load_bundle

    bundle = device_bundles[fmt]
    data, channels = hapt_test_recording.data[:, :N], hapt_test_recording.channels
    csv = write_csv(tmp_path / "rec.csv", data)
    link, out = tmp_path / "ttyIMU", tmp_path / "predictions.jsonl"
    sim = start_simulator(csv, link, "--speed", "20", "--samples-per-packet", "7")
    try:
        r, torch_imports = run_device(device_python, tmp_path, "stream", "--model", bundle, "--source",
                                      f"serial:{link}", "--out", out, "--max-outage", "1", "--quiet")
    finally:
        sim.wait(60)
    assert sim.returncode == 0, sim.stderr.read()
    # the device hangs up after its last packet; the stream gives up one second later (exit 2, said in one line)
    assert r.returncode == 2 and "gave up after 1 s" in r.stderr, r.stderr[-2000:]
    assert torch_imports == []
    live = [json.loads(line) for line in out.read_text().splitlines()]
    predictor = load_bundle(bundle)
    ref = offline_predictions(expected_stream(data, channels), predictor, channels)
    assert len(ref) == (N - 128) // 64 + 1
    assert [(p["window"], p["start"], p["index"], p["class"], p["scores"]) for p in live] == \
        [(p["window"], p["start"], p["index"], p["class"], p["scores"]) for p in ref]


def test_device_install_records_over_pty(device_python, hapt_test_recording, tmp_path):
    csv = write_csv(tmp_path / "rec.csv", hapt_test_recording.data[:, :300])
    link, out = tmp_path / "ttyIMU", tmp_path / "captured.csv"
    sim = start_simulator(csv, link, "--speed", "20")
    try:
        r, torch_imports = run_device(device_python, tmp_path, "record", "--source", f"serial:{link}", "--out", out,
                                      "--samples", "300")
    finally:
        sim.wait(60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert torch_imports == []
    assert len(out.read_text().splitlines()) == 1 + 300


def test_pte_bundle_in_device_install_says_which_extra(device_python, device_bundles, tmp_path):
    """A .pte needs ExecuTorch's Python runtime, which imports torch: one line naming the extra, exit 2."""
    from imuedge.bundle import write_manifest
    from imuedge.digest import sha256

    pte = tmp_path / "pte-fp32"
    pte.mkdir()
    manifest = json.loads((device_bundles["onnx"] / "imuedge.json").read_text())
    (pte / "model.pte").write_bytes(b"not opened: the runtime is missing before the file is read")
    manifest.pop("fingerprint", None)
    manifest.update(format="pte", artifact={"file": "model.pte", "sha256": sha256(pte / "model.pte")})
    write_manifest(pte, manifest)
    r, _ = run_device(device_python, tmp_path, "stream", "--model", pte, "--source", "serial:/dev/null")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "ExecuTorch's Python runtime, which imports torch" in lines[0] \
        and "pip install 'imuedge[pte]'" in lines[0], r.stderr


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_device_install_load_bundle_from_python(fmt, device_python, device_bundles, hapt_test_recording, tmp_path):
    """``imuedge.load_bundle`` in the device venv gives the scores this environment gives, and imports no torch."""
    from imuedge.bundle import load_bundle

    window = hapt_test_recording.data[:, :128]
    np.save(tmp_path / "window.npy", window)
    code = ("import sys, numpy as np, imuedge; p = imuedge.load_bundle(sys.argv[1]); "
            "print(p.predict(np.load(sys.argv[2])).tolist()); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    r = subprocess.run([str(device_python), "-c", code, str(device_bundles[fmt]), str(tmp_path / "window.npy")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    scores, torch_modules = r.stdout.strip().splitlines()[-2:]
    assert json.loads(scores) == load_bundle(device_bundles[fmt]).predict(window).tolist()
    assert torch_modules == "[]"


def test_server_side_commands_in_device_install_say_which_extra(device_python, tmp_path):
    """`imuedge run` / `imuedge export` need torch: in a device install, one line naming the extras, exit 2."""
    for argv in (["run", "--help"], ["export", "model.pt", "--out", "b"]):
        r, _ = run_device(device_python, tmp_path, *argv)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, (argv, r.stderr[-2000:])
        assert "'torch', which this install lacks: pip install 'imuedge[train,export]'" in lines[0], lines
