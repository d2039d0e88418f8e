"""Links that cannot open: a missing port, a device that never sends, no Bluetooth stack. Every run is
bounded by --duration or --connect-timeout, a run that received nothing exits non-zero, and the reason is
said once, in one line."""
from __future__ import annotations

import time

import pytest

from imuedge.cli import main

MISSING = "/dev/ttyNOPE_imuedge_test"


def run(capsys, argv):
    t0 = time.monotonic()
    code = main(argv)
    seconds = time.monotonic() - t0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, [ln for ln in err.splitlines() if ln.strip()], seconds


def test_record_on_a_missing_port_stops_at_its_duration(capsys, tmp_path):
    out = tmp_path / "walk.csv"
    code, lines, seconds = run(capsys, ["record", "--source", f"serial:{MISSING}", "--out", str(out),
                                        "--duration", "2"])
    assert code == 1 and not out.exists()
    assert seconds < 30  # bounded by --duration (the retry backoff adds at most one delay), never a hang
    assert sum("waiting for serial:" in ln for ln in lines) == 1  # said once, not once per retry
    assert lines[-1] == f"imuedge record: no sample was received from serial:{MISSING}@115200; nothing written"


def test_record_gives_up_after_the_connect_timeout(capsys, tmp_path):
    code, lines, seconds = run(capsys, ["record", "--source", f"serial:{MISSING}", "--out", str(tmp_path / "a.csv"),
                                        "--connect-timeout", "1"])
    assert code == 2 and seconds < 20
    assert lines[-1].startswith(f"imuedge record: serial:{MISSING}@115200: no connection within 1 s (")
    assert lines[-1].endswith("--connect-timeout 0 waits indefinitely")


def test_stream_on_a_missing_port(capsys, onnx_bundle):
    code, lines, seconds = run(capsys, ["stream", "--model", str(onnx_bundle), "--source", f"serial:{MISSING}",
                                        "--duration", "2", "--quiet", "--connect-timeout", "0"])
    assert code == 1 and seconds < 30
    assert lines[-1] == f"imuedge stream: no sample was received from serial:{MISSING}@115200"
    code, lines, seconds = run(capsys, ["stream", "--model", str(onnx_bundle), "--source", f"serial:{MISSING}",
                                        "--connect-timeout", "1", "--quiet"])
    assert code == 2 and "no connection within 1 s" in lines[-1] and seconds < 20


@pytest.mark.parametrize("command", ["stream", "record"])
def test_ble_without_a_bluetooth_stack_is_named_once(capsys, monkeypatch, tmp_path, onnx_bundle, command):
    pytest.importorskip("bleak")
    address = f"unix:path={tmp_path / 'no_system_bus'}"
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
    argv = [command, "--source", "ble:imuedge-nano33?scan=1"]
    argv += ["--model", str(onnx_bundle), "--quiet"] if command == "stream" else ["--out", str(tmp_path / "a.csv")]
    code, lines, seconds = run(capsys, argv)
    assert code == 2 and seconds < 30
    said = [ln for ln in lines if "BlueZ/D-Bus is not available" in ln]
    assert said == [f"imuedge {command}: ble:imuedge-nano33: BlueZ/D-Bus is not available (no system bus at "
                    f"{address}: [Errno 2] No such file or directory)"]


def test_record_whose_device_stops_ends_at_its_duration(capsys, tmp_path, recording_csv):
    """The device sends 300 samples and hangs up; the recorder keeps the samples and returns at --duration."""
    from imuedge.emulation.simulator import start_simulator

    link = tmp_path / "ttyIMU"
    proc = start_simulator(recording_csv(300), link, "--speed", "20")
    out = tmp_path / "rec.csv"
    try:
        code, lines, seconds = run(capsys, ["record", "--source", f"serial:{link}", "--out", str(out),
                                            "--duration", "6"])
    finally:
        proc.wait(30)
    assert code == 0 and 5 < seconds < 30
    assert len(out.read_text().splitlines()) == 1 + 300
