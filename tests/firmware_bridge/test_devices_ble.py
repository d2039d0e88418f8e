"""`imuedge devices list`, the BLE identifiers, and the Arduino shell kept in sync with the spec."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from imuedge.firmware_bridge import ble

FB = Path(ble.__file__).resolve().parent


def main(argv):
    """`imuedge devices ...` through this component's own parser (no other component imported)."""
    import argparse

    from imuedge.firmware_bridge import cli

    parser = argparse.ArgumentParser(prog="imuedge")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)
SKETCH = FB / "firmware" / "boards" / "arduino_nano33ble" / "imuedge_nano33ble.ino"


def test_gatt_uuids_agree_in_spec_code_and_sketch():
    spec = (FB / "PROTOCOL.md").read_text()
    sketch = SKETCH.read_text()
    for uuid in (ble.IMU_SERVICE_UUID, ble.IMU_DATA_UUID, ble.IMU_CONTROL_UUID):
        assert uuid in spec and uuid in sketch
    assert ble.NUS_SERVICE_UUID in spec
    for u in (ble.NUS_SERVICE_UUID, ble.NUS_RX_UUID, ble.NUS_TX_UUID):
        assert re.fullmatch(r"6e40000[123]-b5a3-f393-e0a9-e50e24dcca9e", u)


def test_arduino_sketch_matches_core_api():
    """Host g++ -fsyntax-only of the sketch with stub Arduino headers: catches a core API
    change that the (uncompilable here) board shell would no longer fit."""
    if not (shutil.which("make") and shutil.which("g++")):
        pytest.skip("make/g++ absent")
    r = subprocess.run(["make", "-s", "-C", str(FB / "firmware"), "arduino-syntax"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_devices_list_without_bluetooth(monkeypatch, capsys, tmp_path):
    def no_ble(*a, **k):
        raise ble.BLEUnavailable("BlueZ/D-Bus is not available ([Errno 2] No such file or directory)")

    monkeypatch.setattr(ble, "scan", no_ble)
    assert main(["devices", "list", "--port", str(tmp_path / "nope"), "--ble-timeout", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "serial ports:" in out and "not found" in out
    assert "BLE: not scanned: BlueZ/D-Bus is not available" in out and "Traceback" not in out


def test_devices_list_shows_pty_and_ble_devices(monkeypatch, capsys):
    import os

    found = [ble.BLEDevice("AA:BB:CC:DD:EE:FF", "imuedge-nano33", -50, "imuedge", "imuedge-ble")]
    monkeypatch.setattr(ble, "scan", lambda timeout, all_devices=False: found)
    master, slave = os.openpty()
    try:
        assert main(["devices", "list", "--port", os.ttyname(slave)]) == 0
    finally:
        os.close(master)
        os.close(slave)
    out = capsys.readouterr().out
    assert "(given; character device)" in out
    assert "AA:BB:CC:DD:EE:FF  imuedge-nano33  rssi -50  imuedge  -> profile imuedge-ble" in out


def test_real_scan_without_a_system_bus_names_it(monkeypatch, tmp_path):
    """A real bleak scan on a machine whose D-Bus system bus is absent (here: pointed at a socket that does
    not exist) ends in one line naming the missing stack and the bus address, never a traceback."""
    pytest.importorskip("bleak")
    address = f"unix:path={tmp_path / 'no_system_bus'}"
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
    with pytest.raises(ble.BLEUnavailable) as info:
        ble.scan(0.5)
    assert str(info.value) == (f"BlueZ/D-Bus is not available (no system bus at {address}: "
                               "[Errno 2] No such file or directory)")
