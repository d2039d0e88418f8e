"""The firmware bridge's one command, `firmware_bridge/check.sh`, exactly as a developer runs it:
shared vectors up to date, host C unit tests, Cortex-M3 and AVR builds, simavr, QEMU end to end."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHECK = Path(__file__).resolve().parents[2] / "firmware_bridge" / "check.sh"
TOOLS = ("make", "gcc", "g++", "arm-none-eabi-gcc", "qemu-system-arm", "avr-gcc", "simavr")


def test_check_sh_builds_both_targets_and_runs_every_stage():
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        pytest.skip(f"toolchain absent: {', '.join(missing)} (./test.sh installs it with apt)")
    r = subprocess.run([str(CHECK)], capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHON": sys.executable})
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    for stage in ("vectors up to date", "host C unit tests", "Cortex-M3 build", "AVR build", "AVR in simavr",
                  "QEMU end-to-end"):
        assert f"== {stage}" in r.stdout, stage
    assert "check.sh: all passed" in r.stdout
