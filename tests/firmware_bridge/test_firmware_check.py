"""The firmware bridge's one command, `imuedge firmware check` (firmware_bridge/check.sh), exactly as a
developer runs it: shared vectors up to date, host C unit tests, Cortex-M3 and AVR builds, simavr, QEMU
end to end."""
import shutil
import subprocess
import sys

import pytest

TOOLS = ("make", "gcc", "g++", "arm-none-eabi-gcc", "qemu-system-arm", "avr-gcc", "simavr")


def test_imuedge_firmware_check_builds_both_targets_and_runs_every_stage():
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        pytest.skip(f"toolchain absent: {', '.join(missing)} (./test.sh installs it with apt)")
    r = subprocess.run([sys.executable, "-m", "imuedge.cli", "firmware", "check"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    for stage in ("vectors up to date", "host C unit tests", "Cortex-M3 build", "AVR build", "AVR in simavr",
                  "QEMU end-to-end"):
        assert f"== {stage}" in r.stdout, stage
    assert "simavr OK" in r.stdout and "qemu e2e OK" in r.stdout
    assert "check.sh: all passed" in r.stdout
