"""The rigs' checks are named errors with one-line messages, never ``assert`` (which ``python -O`` strips); the
product packages hold no ``assert`` either."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from imuedge.emulation import RigError
from imuedge.emulation.simulator import start_simulator

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("folder", ["emulation", "edge_runtime", "firmware_bridge", "imuedge"])
def test_no_assert_statements(folder):
    found = [f"{path.relative_to(ROOT)}:{node.lineno}" for path in sorted((ROOT / folder).rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(node, ast.Assert)]
    assert not found, f"assert statements (stripped by python -O): {found}"


def test_every_rig_error_is_a_rig_error():
    from imuedge.emulation import ble_qemu, fuzz, qemu_e2e, simulator

    for cls in (qemu_e2e.FirmwareCheckFailed, fuzz.FuzzCrash, ble_qemu.Unavailable, simulator.Orphaned):
        assert issubclass(cls, RigError), cls
    if "dbus_fast" in sys.modules or __import__("importlib").util.find_spec("dbus_fast"):
        from imuedge.emulation import ble_peripheral

        assert issubclass(ble_peripheral.BlueZCallError, RigError)


def test_a_simulator_that_cannot_start_is_one_line(tmp_path):
    """A CSV that is not there: the simulator process fails, and the caller gets a RigError naming the file on
    one line (not a traceback of the child)."""
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(RigError) as e:
        start_simulator(missing, tmp_path / "tty", timeout=30)
    assert "\n" not in str(e.value) and "nowhere.csv" in str(e.value), str(e.value)
