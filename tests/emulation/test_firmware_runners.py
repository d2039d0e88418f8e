"""The firmware runners (``emulation/qemu_e2e.py``, ``emulation/avr_sim.py``): their checks are named errors.

The runs themselves, which test the firmware, are in tests/firmware_bridge/test_qemu_stream.py."""
import subprocess
import sys


def test_avr_check_failure_is_a_named_error_even_under_python_O(firmware):
    """avr_sim's checks are FirmwareCheckFailed, not asserts that `python -O` strips: here the recording it
    compares against is shifted by one sample, in a child interpreter started with -O."""
    firmware.need("make", "avr-gcc", "simavr")
    firmware.make("avr")
    code = ("from imuedge.emulation import avr_sim, qemu_e2e\nfrom imuedge.firmware_bridge import replay_data\n"
            "counts = replay_data.load_counts\n"
            "replay_data.load_counts = lambda n: counts(n + 1)[1:]\n"
            "try:\n    avr_sim.run(log=lambda *_: None)\nexcept qemu_e2e.FirmwareCheckFailed as e:\n"
            "    print('FirmwareCheckFailed:', e)\n")
    r = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout == "FirmwareCheckFailed: AVR samples differ from the recording\n"
