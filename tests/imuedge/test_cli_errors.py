"""Ordinary mistakes end in one line and a non-zero exit, never a traceback; --debug shows the traceback."""
from __future__ import annotations

import pytest

from imuedge.cli import main


def run(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return code, lines


@pytest.mark.parametrize("argv, message", [
    (["devices", "probe", "--serial", "/dev/ttyNOPE_imuedge"],
     "imuedge devices probe: cannot open /dev/ttyNOPE_imuedge: No such file or directory"),
    (["devices", "decode", "/nonexistent/capture.bin"],
     "imuedge devices decode: cannot read /nonexistent/capture.bin: No such file or directory"),
    (["export", "/nonexistent/classifier.pt"], "imuedge export: /nonexistent/classifier.pt: no such checkpoint file"),
])
def test_missing_things_are_one_line(capsys, argv, message):
    code, lines = run(capsys, argv)
    assert code == 2 and lines == [message]


def test_a_data_flag_no_source_reads_is_refused_before_training(capsys, tmp_path):
    """--imu-windows without the imu source was ignored: a run trained on procedural images (or resumed) instead."""
    code, lines = run(capsys, ["pretrain", "--sources", "procedural", "--imu-windows", "/nonexistent/windows.npz",
                               "--steps", "1", "--out", str(tmp_path / "run")])
    assert code == 2 and lines == ["imuedge pretrain: --imu-windows /nonexistent/windows.npz is read only by "
                                   "the 'imu' source, and --sources is 'procedural': add it (e.g. --sources imu) or "
                                   "leave --imu-windows out"]
    assert not (tmp_path / "run").exists()


def test_a_file_that_is_not_a_checkpoint(capsys, tmp_path):
    bad = tmp_path / "notes.pt"
    bad.write_text("these are my notes")
    code, lines = run(capsys, ["export", str(bad), "--format", "onnx"])
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(f"imuedge export: {bad}: cannot be read as a checkpoint (")
    assert lines[0].endswith("it may be truncated or not an imuedge checkpoint")


@pytest.mark.parametrize("kind", ["diffusion_student", "latent_diffusion", "diffusion_vae"])
def test_a_generator_checkpoint_is_pointed_to_the_generator_export(capsys, tmp_path, kind):
    import torch

    from imuedge import checkpoint

    path = checkpoint.save({"kind": kind, "model": {"name": "diffusion", "config": {}},
                            "state_dict": {"w": torch.zeros(1)}}, tmp_path / "gen.pt")
    code, lines = run(capsys, ["export", str(path), "--out", str(tmp_path / "b")])
    assert code == 2 and lines == [f"imuedge export: {path}: a generator checkpoint ({kind}); `imuedge export` takes "
                                   f"classifiers and encoders: export a generator with `imuedge diffusion export "
                                   f"--generator {path}`"]
    assert not (tmp_path / "b").exists()


def test_unknown_profile_is_refused_by_the_parser(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["devices", "decode", str(tmp_path), "--profile", "nope"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err and "Traceback" not in err


@pytest.mark.parametrize("query", ["block=0", "block=abc", "block=-3"])
def test_bad_replay_options(capsys, tmp_path, query):
    code, lines = run(capsys, ["stream", "--model", str(tmp_path), "--source", f"replay:x.csv?{query}"])
    value = query.split("=")[1]
    assert code == 2 and lines == [f"imuedge stream: source 'replay:x.csv?{query}': block '{value}' must be a "
                                   f"positive whole number of samples"]


def test_debug_shows_the_traceback_and_bugs_say_so(capsys, monkeypatch):
    with pytest.raises(Exception, match="no such checkpoint file"):
        main(["export", "/nonexistent/c.pt", "--debug"])
    monkeypatch.setenv("IMUEDGE_DEBUG", "1")
    with pytest.raises(Exception, match="no such checkpoint file"):
        main(["export", "/nonexistent/c.pt"])
    monkeypatch.delenv("IMUEDGE_DEBUG")

    import imuedge.firmware_bridge.cli as fb

    def broken(args):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(fb, "run_decode", broken)
    from imuedge.cli import build_parser  # noqa: F401 - the parser binds run_decode when built

    code, lines = run(capsys, ["devices", "decode", "x.bin"])
    assert code == 1 and lines == ["imuedge devices: internal error: TypeError: unsupported operand type(s) for +: "
                                   "'int' and 'str' (run with --debug or IMUEDGE_DEBUG=1 for the traceback)"]


def test_profile_names_are_the_decoders():
    from imuedge.edge_runtime.cli import DECODERS
    from imuedge.firmware_bridge.cli import PROFILE_NAMES
    from imuedge.firmware_bridge.profiles import PROFILES

    assert set(PROFILE_NAMES) == set(PROFILES) == set(DECODERS) - {"auto"}
