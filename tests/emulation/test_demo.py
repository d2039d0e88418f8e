"""`imuedge demo-stream` / ``demo.stream_hapt_test_subjects``: HAPT test subjects over a real pty into a
.pte bundle, predictions equal to offline ones exactly. A short slice here (2 recordings x 20 s, 100x)."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("serial")


def test_hapt_test_subjects_over_pty_equal_offline_exactly(tmp_path, pte_bundle):
    from imuedge.data import HaptWindowsConfig, load_hapt_windows
    from imuedge.emulation.demo import stream_hapt_test_subjects

    lines = []
    out = tmp_path / "demo"
    s = stream_hapt_test_subjects(pte_bundle, out, pace=100.0, max_seconds_per_recording=20.0, log=lines.append,
                                  max_recordings=2)
    per_rec = (20 * 50 - 128) // 64 + 1  # windows at 0, 64, ... of each 1000-sample recording
    assert s["ok"], s["first_mismatches"]
    assert s["recordings"] == 2 and s["seconds_of_data"] == 40.0
    assert s["windows_streamed"] == s["windows_offline"] == s["windows_matching_offline"] == 2 * per_rec
    assert s["mismatches"] == 0 and s["first_mismatches"] == []
    assert s["packets"]["lost"] == s["packets"]["corrupt"] == 0 and s["packets"]["received"] == 2 * 100
    assert s["windows_dropped"] == 0 and s["windows_skipped_gap"] == 0
    assert s["e2e_p50_ms"] > 0 and s["e2e_p99_ms"] >= s["e2e_p50_ms"] and s["peak_rss_mb"] > 0
    # the recordings are the test subjects' (the default split of load_hapt_windows)
    test_subjects = {int(v) for v in set(load_hapt_windows(HaptWindowsConfig())["test"].subject.tolist())}
    assert set(s["subjects"]) <= test_subjects
    assert all(r["windows_exact"] == r["windows_streamed"] == per_rec for r in s["per_recording"])
    # files: live records with their recording, the profile, the summary
    recs = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(recs) == 2 * per_rec and {r["recording"] for r in recs} == {r["recording"] for r in s["per_recording"]}
    assert [r["start"] for r in recs[:per_rec]] == list(range(0, per_rec * 64, 64))
    prof = json.loads((out / "profile.json").read_text())
    assert prof["packets"]["lost"] == 0 and prof["counters"]["windows_predicted"] == 2 * per_rec
    assert json.loads((out / "summary.json").read_text())["ok"] is True
    assert any(x.startswith("stage") for x in lines) and lines[-1].startswith("[demo] OK")


def test_demo_stream_cli_flags():
    from imuedge.cli import build_parser

    p = build_parser()
    a = p.parse_args(["demo-stream", "--model", "b"])
    assert (a.demo, a.out, a.pace, a.max_seconds, a.max_recordings) == ("hapt-test", "demo_stream", 100.0, None, None)
    with pytest.raises(SystemExit):  # `stream` still needs a source
        p.parse_args(["stream", "--model", "b"])
