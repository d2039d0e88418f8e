"""Property: whatever a recording file holds, the loader returns checked data or raises its own
RecordingFormatError -- never another exception, a hang, or a non-finite or implausible value."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imuedge.data.recordings import RecordingFormatError, RecordingsConfig, read_recording_file
from imuedge.window import ACC, MAX_ACC, MAX_GYRO

COLUMNS = ["timestamp", "timestamp[ms]", "timestamp[parsec]", "acc_x", "acc_y[g]", "acc_z", "gyro_x[dps]",
           "gyro_y", "gyro_z[rad/s]", "gyro_z[furlong]", "label", "subject", "temperature", "", "acc_x"]
CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**12, 10**12).map(str),
    st.sampled_from(["", " ", "nan", "inf", "-inf", "1e308", "-1e309", "1e30", "0x10", "1,5", "walking", "-1",
                     "3.0", "w10", "\u00e9", "\x00", "'", '"', "9" * 400]),
    st.text(max_size=12),
)


@st.composite
def csv_files(draw):
    header = draw(st.lists(st.sampled_from(COLUMNS), min_size=0, max_size=8))
    n = draw(st.integers(0, 12))
    lines = [",".join(header)] if draw(st.booleans()) or not header else []
    t = 0.0
    for _ in range(n):
        width = len(header) + draw(st.sampled_from([0, 0, 0, -1, 1]))
        cells = []
        for c in range(max(width, 0)):
            if c < len(header) and header[c].startswith("timestamp") and draw(st.booleans()):
                t += draw(st.sampled_from([0.02, 0.02, 0.0, -0.02, 5.0]))
                cells.append(f"{t:.3f}")
            else:
                cells.append(draw(CELLS).replace("\n", " ").replace("\r", " "))
        lines.append(",".join(cells))
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["# comment", "", "\ufeff"])))
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=csv_files(), rate=st.sampled_from([None, 50.0, 1e-3]))
def test_any_file_loads_checked_or_fails_with_a_recording_error(tmp_path, text, rate):
    path = tmp_path / "rec.csv"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        parsed = read_recording_file(path, RecordingsConfig(rate=rate))
    except RecordingFormatError as e:
        assert "\n" not in str(e) and len(str(e)) < 600
        return
    rec = parsed.recording
    assert np.isfinite(rec.data).all() and rec.sample_rate_hz > 0
    bounds = np.array([MAX_ACC if c in ACC else MAX_GYRO for c in rec.channels])[:, None]
    assert (np.abs(rec.data) <= bounds).all()
