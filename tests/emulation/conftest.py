"""Fixtures for the rigs' tests: the edge-runtime tests' HAPT recording and small bundles
(tests/edge_runtime/conftest.py) and the firmware tests' toolchain helpers (tests/firmware_bridge/test_qemu_stream.py:
``need``, ``make``), imported by path: tests are not a package (--import-mode=importlib)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TESTS = Path(__file__).resolve().parents[1]
edge = _load(TESTS / "edge_runtime" / "conftest.py", "_emulation_edge_conftest")


@pytest.fixture(scope="session")
def firmware():
    """``need(*tools)`` (skip without them) and ``make(target)`` for the firmware in firmware_bridge/firmware."""
    return _load(TESTS / "firmware_bridge" / "test_qemu_stream.py", "_emulation_firmware_tests")


@pytest.fixture(scope="session")
def hapt_test_recording():
    return edge.load_hapt_test_recording()


@pytest.fixture(scope="session")
def pte_bundle(tmp_path_factory, hapt_test_recording):
    return edge.export_small(tmp_path_factory, hapt_test_recording, "pte")


@pytest.fixture
def recording_csv(tmp_path, hapt_test_recording):
    """Factory: the first n samples of the HAPT test recording as a CSV file."""
    def make(n: int, name: str = "rec.csv", rate: float = 50.0):
        return edge.write_csv(tmp_path / name, hapt_test_recording.data[:, :n], rate=rate)
    return make
