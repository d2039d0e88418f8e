"""The live view's Windower: resampling to the bundle's rate from a measured, jittery rate, and holes."""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")


@pytest.fixture(scope="module")
def js():
    out = subprocess.run(["node", str(HERE / "windower_js.mjs")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_jittery_60_hz_stream_is_resampled_to_50_hz(js):
    j = js["jittered"]
    t0 = j["times"][0]
    n_out = int((j["times"][-1] - t0) // 20) + 1  # 50 Hz samples inside the stream
    assert len(j["windows"]) == (n_out - 8) // 4 + 1 and j["gaps"] == 0
    for i, w in enumerate(j["windows"]):
        t = t0 + 20 * (4 * i + np.arange(8))
        want = 0.5 + 0.001 * t
        np.testing.assert_allclose(w[:8], want, rtol=1e-6)  # acc_x: the ramp at the 50 Hz times
        np.testing.assert_allclose(w[8:], -want, rtol=1e-6)  # gyro_z, in the bundle's channel order


def test_a_hole_restarts_the_window_instead_of_gluing(js):
    h = js["holed"]
    assert h["gaps"] == 1
    # 41 samples before the hole: windows at 0, 4, ..., 32 (9); 39 after it: at 0, 4, ..., 28 (8)
    assert len(h["windows"]) == 9 + 8
    for w in h["windows"]:
        assert np.all(np.diff(w[:8]) > 0.019) and np.all(np.diff(w[:8]) < 0.021)  # 20 ms apart, never 320 ms
