"""QEMU end-to-end: Cortex-M3 firmware (replay driver) -> emulated UART -> FrameDecoder.

Builds the firmware with `make arm` (and the host C tests with `make test`),
boots it on qemu-system-arm -M mps2-an385 and checks the decoded stream against
the compiled-in recording, sample for sample, while commands change the rate,
stop and start it. Skips only when a tool is missing.
"""
import shutil
import subprocess

import pytest

from imuedge.emulation import qemu_e2e

FW = qemu_e2e.FIRMWARE


def need(*tools):
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pytest.skip(f"toolchain absent: {', '.join(missing)} not on PATH "
                    "(apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm make)")


def make(target):
    r = subprocess.run(["make", "-s", "-C", str(FW), target], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_host_c_unit_tests_pass_on_shared_vectors():
    need("make", "gcc")
    out = make("test")
    assert "OK:" in out and "0 failures" in out


def test_qemu_stream_matches_recording_and_obeys_commands():
    need("make", "arm-none-eabi-gcc", "qemu-system-arm")
    make("arm")
    r = qemu_e2e.run(qemu_e2e.ELF, log=lambda *_: None)
    assert r["samples"] >= 2300 and r["lost_packets"] == 0 and r["corrupt_frames"] == 0


def test_avr_build_runs_in_simavr():
    need("make", "avr-gcc", "simavr")
    from imuedge.emulation import avr_sim
    make("avr")
    r = avr_sim.run(log=lambda *_: None)
    assert r["samples"] == r["expected_samples"]


@pytest.mark.parametrize("link", ["unix", "pty"])
def test_cli_probe_talks_to_qemu(link, capsys):
    """`imuedge devices probe` over QEMU's UART: a unix socket, or a real pty opened with pyserial."""
    need("make", "arm-none-eabi-gcc", "qemu-system-arm")
    if link == "pty":
        pytest.importorskip("serial", reason="pyserial (imuedge[device]) not installed")
    import shutil as sh

    from imuedge.cli import main

    make("arm")
    proc, path, tmp = qemu_e2e.start_qemu(qemu_e2e.ELF, link)
    try:
        rc = main(["devices", "probe", f"--{'unix' if link == 'unix' else 'serial'}", path, "--timeout", "10"])
        out = capsys.readouterr().out
        assert rc == 0, out
        assert "imuedge-replay-mps2: protocol v1.0, 50 Hz" in out and "stopped" in out
    finally:
        proc.kill()
        proc.wait()
        sh.rmtree(tmp, ignore_errors=True)


def test_cli_decode_capture(tmp_path, capsys):
    import json

    from imuedge.cli import main

    v = {x["name"]: x for x in json.loads((FW.parent / "vectors" / "streams.json").read_text())["vectors"]}
    cap = tmp_path / "cap.bin"
    cap.write_bytes(bytes.fromhex(v["bad_crc_in_middle"]["stream_hex"]))
    assert main(["devices", "decode", str(cap)]) == 1  # corrupt frames -> exit 1
    out = capsys.readouterr().out
    assert "packets: 3 (DATA 3)" in out and "lost packets (sequence gaps): 1" in out and "CRCError" in out
