"""The app's BLE source on notifications built by the Python encoder: samples, times, gaps, corrupt packets."""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from imuedge.firmware_bridge import protocol as P

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")


def test_ble_notifications_to_samples():
    rng = np.random.default_rng(0)
    packets = [P.DataPacket(seq, 1_000_000 + 200_000 * k, 20_000, 0x3F, 0.0024, 0.00107,
                            rng.integers(-2000, 2000, (10, 6)), overflow_count=3 if seq == 3 else 0)
               for k, seq in enumerate([0, 1, 3, 4])]  # packet 2 lost on the air
    raw = [P.encode_packet(p) for p in packets]
    corrupt = bytearray(raw[1])
    corrupt[40] ^= 0xFF  # a bit error the CRC catches
    notes = [raw[0], bytes(corrupt), raw[1], raw[2], raw[3]]
    out = subprocess.run(["node", str(HERE / "ble_source_js.mjs")], input=json.dumps([n.hex() for n in notes]),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert (got["lost"], got["gaps"], got["corrupt"], got["errors"], got["overflow"]) == (1, [1], 1, {"CRCError": 1}, 3)
    s = np.array(got["samples"], np.float64)
    want = np.concatenate([p.to_array().T for p in packets])
    np.testing.assert_array_equal(s[:, 1:].astype(np.float32), want)  # m/s^2 and rad/s, float32 like to_array()
    t_want = np.concatenate([(1_000_000 + 200_000 * k + 20_000 * np.arange(10)) / 1000 for k in range(4)])
    np.testing.assert_allclose(s[:, 0], t_want)  # device time (ms), not arrival time
    assert abs(got["rate"] - 50.0) < 1e-9
