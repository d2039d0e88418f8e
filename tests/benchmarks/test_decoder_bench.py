"""The decoder benchmark's verdict: PASS only at or above the budget with every sample decoded, in the JSON,
the table and the exit code. The run times are given here (the benchmark itself measures them)."""
import json

import pytest

from benchmarks import decoder_bench as bench

ALL = bench.PACKETS * bench.SAMPLES


@pytest.mark.parametrize("packets_s, samples, verdict", [
    (bench.BUDGET_PACKETS_S * 1.01, ALL, "PASS"),
    (bench.BUDGET_PACKETS_S * 0.99, ALL, "FAIL"),  # just too slow
    (bench.BUDGET_PACKETS_S * 10, ALL - 1, "FAIL"),  # fast, but a sample was lost
])
def test_each_profile_is_judged_against_the_budget(monkeypatch, tmp_path, packets_s, samples, verdict):
    monkeypatch.setattr(bench, "run", lambda profile, feeds: (bench.PACKETS / packets_s, samples))
    code = bench.main(["--repeats", "1", "--out", str(tmp_path)])
    rows = json.loads((tmp_path / "decoder_bench.json").read_text())["rows"]
    assert [r["pass"] for r in rows] == [verdict == "PASS"] * len(bench.PROFILES)
    assert rows[0]["packets_per_s"] == pytest.approx(packets_s)
    assert (tmp_path / "decoder_bench.md").read_text().count(f" | {verdict} |") == len(bench.PROFILES)
    assert code == (0 if verdict == "PASS" else 1)
