"""A manifest is checked, not trusted: its schema, its agreement with the model file, its binding to the
artifact, and a model file that passes the hash but does not load -- each a one-line BundleError."""
from __future__ import annotations

import json
import shutil
import stat

import numpy as np
import pytest

import imuedge
from imuedge.export import BundleError
from imuedge.manifest import binding


def copy(exported, tmp_path, key="onnx-fp32"):
    dst = tmp_path / key
    shutil.copytree(exported["out"] / key, dst)
    return dst


def edit(folder, change, rebind=False):
    path = folder / "imuedge.json"
    m = json.loads(path.read_text())
    change(m)
    if rebind:  # the edit made consistent with itself, as a careful hand (or a script) would
        m["fingerprint"]["binding_sha256"] = binding(m)
    path.write_text(json.dumps(m))


def refused(folder, verify=True) -> str:
    with pytest.raises(BundleError) as info:
        imuedge.load_bundle(folder, verify=verify)
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop("input"), "manifest field 'input' is missing (expected an object)"),
    (lambda m: m["input"].pop("channels"), "manifest field 'input.channels' is missing"),
    (lambda m: m.__setitem__("schema_version", "1"), "manifest field 'schema_version' must be an integer, got '1'"),
    (lambda m: m["input"].__setitem__("channels", ["acc_y", "acc_x", "acc_z", "gyro_x", "gyro_y", "gyro_z"]),
     "manifest field 'input.channels' must be a list of channel names from"),
    (lambda m: m["input"].__setitem__("window", "128"), "manifest field 'input.window' must be a positive integer"),
    (lambda m: m["output"].__setitem__("class_names", ["slow", "walk", "walk", "shake"]),
     "manifest field 'output.class_names' must be a non-empty list of distinct strings"),
    (lambda m: m["artifact"].__setitem__("file", "../../model.onnx"), "manifest field 'artifact.file' must be a file"),
    (lambda m: m.__setitem__("task", "dance"), "manifest field 'task' must be one of"),
])
def test_schema_violations_are_named_by_field(exported, tmp_path, change, message):
    folder = copy(exported, tmp_path)
    edit(folder, change)
    assert message in refused(folder)


@pytest.mark.parametrize("key", ["pte-fp32", "tflite-int8", "onnx-fp32"])
def test_model_file_shapes_must_match_the_manifest(exported, tmp_path, key):
    """Edits that keep the schema and the binding but not the model: refused at load, naming both sides."""
    folder = copy(exported, tmp_path, key)
    edit(folder, lambda m: m["output"].__setitem__("class_names", ["slow", "walk", "run"]), rebind=True)
    msg = refused(folder)
    assert "model file gives output" in msg and "4)" in msg and "3 classes ['slow', 'walk', 'run']" in msg
    folder = copy(exported, tmp_path / "w", key)
    edit(folder, lambda m: m["input"].__setitem__("window", 64), rebind=True)
    msg = refused(folder)
    assert "the model file takes input" in msg and "128)" in msg and "64 samples" in msg
    folder = copy(exported, tmp_path / "c", key)
    edit(folder, lambda m: m["input"].__setitem__("channels", ["acc_x", "acc_y", "acc_z"]), rebind=True)
    assert "3 channels ['acc_x', 'acc_y', 'acc_z']" in refused(folder)


def test_an_edited_manifest_is_caught_by_its_binding(exported, tmp_path):
    folder = copy(exported, tmp_path)
    edit(folder, lambda m: m["output"].__setitem__("class_names", ["walk", "slow", "run", "shake"]))
    assert "are not those this model file was exported with" in refused(folder)
    edit(folder, lambda m: m["input"].__setitem__("sample_rate_hz", 100.0))
    assert "are not those this model file was exported with" in refused(folder)


def test_re_bound_class_names_are_caught_by_the_probe_windows(exported, tmp_path):
    folder = copy(exported, tmp_path)
    m = json.loads((folder / "imuedge.json").read_text())
    probe = m["fingerprint"]["probe"]
    assert len(probe["classes"]) >= 2 and set(probe["channels"]) == set(m["input"]["channels"])
    edit(folder, lambda m: m["output"].__setitem__("class_names", m["output"]["class_names"][::-1]), rebind=True)
    assert "on the probe windows recorded at export the model now gives" in refused(folder)
    assert imuedge.load_bundle(folder, verify=False)  # verify=False trusts the manifest, as documented


@pytest.mark.parametrize("key, why", [("onnx-fp32", "not a loadable onnx model file (InvalidProtobuf"),
                                      ("tflite-fp32", "not a loadable tflite model file (ValueError")])
def test_corrupt_model_file_behind_a_trusted_manifest(exported, tmp_path, key, why):
    folder = copy(exported, tmp_path, key)
    artifact = next(p for p in folder.iterdir() if p.name.startswith("model."))
    artifact.write_bytes(b"\x00garbage" * 64)
    assert why in refused(folder, verify=False)


def test_a_pte_that_would_abort_the_process_is_refused(exported, tmp_path):
    """An op name that is not UTF-8 makes ExecuTorch's runtime throw inside its C++ logger and abort the whole
    process; the first load of a .pte runs in a child process, so this one is refused instead."""
    folder = copy(exported, tmp_path, "pte-fp32")
    artifact = folder / "model.pte"
    data = bytearray(artifact.read_bytes())
    at = data.index(b"XnnpackBackend")
    data[at:at + 2] = b"\xff\xfe"
    artifact.write_bytes(bytes(data))
    msg = refused(folder, verify=False)
    assert "not a loadable ExecuTorch program (a trial load in a child process ended with signal" in msg


def test_bundles_are_readable_by_others_and_summaries_accumulate(exported, tmp_path):
    from imuedge.export import export_bundles

    for key in ("onnx-fp32", "pte-int8"):
        mode = (exported["out"] / key / "imuedge.json").stat().st_mode
        assert mode & stat.S_IROTH and mode & stat.S_IRGRP
    out = tmp_path / "b"
    x = exported["x"][:64]
    export_bundles(exported["target"], out, ("onnx",), ("fp32",), eval_x=x, log=lambda m: None)
    export_bundles(exported["target"], out, ("tflite",), ("fp32",), eval_x=x, log=lambda m: None)
    summary = json.loads((out / "export_summary.json").read_text())
    assert sorted(summary["results"]) == ["onnx-fp32", "tflite-fp32"] and summary["ok"]
    assert np.isfinite(imuedge.load_bundle(out / "onnx-fp32").predict(x[0])).all()


def test_loading_and_exporting_print_no_runtime_chatter(exported, tmp_path, capfd):
    """torchao's missing CUDA kernels, torch's pytree deprecations, ExecuTorch's cpuinfo lines, LiteRT's and
    ONNX Runtime's notes: none reaches the console; a real error still would (imuedge.quiet)."""
    from imuedge.export import export_bundles
    from imuedge.quiet import quiet_runtime

    capfd.readouterr()
    export_bundles(exported["target"], tmp_path / "b", ("pte", "tflite", "onnx"), ("fp32",),
                   eval_x=exported["x"][:32], log=lambda m: None)
    for key in ("pte-fp32", "tflite-fp32", "onnx-fp32"):
        imuedge.load_bundle(tmp_path / "b" / key).predict(exported["x"][0])
    err = capfd.readouterr().err
    assert err == "", err[:2000]
    import os

    with quiet_runtime():
        os.write(2, b"[cpuinfo_utils.cpp:125] CPU info and manual query on # of cpus dont match.\n")
        os.write(2, b"E0000 something really failed\n")
    assert capfd.readouterr().err == "E0000 something really failed\n"


def test_the_window_travels_as_a_window_spec(exported):
    """A predictor carries its input contract as a typed ``WindowSpec`` (what the runtime windows by)."""
    from imuedge.window import WindowSpec

    p = imuedge.load_bundle(exported["out"] / "onnx-fp32")
    inp = p.manifest["input"]
    assert isinstance(p.spec, WindowSpec)
    assert (p.spec.channels, p.spec.sample_rate_hz, p.spec.window, p.spec.hop) == \
        (tuple(inp["channels"]), inp["sample_rate_hz"], inp["window"], inp["hop"])
    assert p.input_shape == (len(p.spec.channels), p.spec.window)
