"""The decoder benchmark's verdict: PASS only at or above the budget with every sample decoded, in the JSON,
the table and the exit code; with a baseline, both codes side by side and the verdict on today's. The run
times are given here (the benchmark itself measures them)."""
import json
from pathlib import Path

import pytest

from benchmarks import baseline
from benchmarks import decoder_bench as bench


@pytest.mark.parametrize("packets_s, missing, verdict", [
    (bench.BUDGET_PACKETS_S * 1.01, 0, "PASS"),
    (bench.BUDGET_PACKETS_S * 0.99, 0, "FAIL"),  # just too slow
    (bench.BUDGET_PACKETS_S * 10, 1, "FAIL"),  # fast, but a sample was lost
])
def test_each_profile_is_judged_against_the_budget(monkeypatch, tmp_path, packets_s, missing, verdict):
    names = iter(n for n in bench.inputs() for _ in range(1))
    monkeypatch.setattr(bench, "run", lambda make, feeds: (bench.PACKETS / packets_s,
                                                           bench.expected_samples(next(names)) - missing))
    code = bench.main(["--repeats", "1", "--out", str(tmp_path)])
    rows = json.loads((tmp_path / "decoder_bench.json").read_text())["rows"]
    assert [r["pass"] for r in rows] == [verdict == "PASS"] * len(bench.PROFILES)
    assert rows[0]["packets_per_s"] == pytest.approx(packets_s)
    assert (tmp_path / "decoder_bench.md").read_text().count(f" | {verdict} |") == len(bench.PROFILES)
    assert code == (0 if verdict == "PASS" else 1)


def test_a_baseline_decodes_beside_today_and_only_today_is_judged(monkeypatch, tmp_path):
    """``--baseline``: the imuedge profiles run twice (the commit's code, then today's), the ratio is today's
    speed over the baseline's, and a slow baseline does not fail the run. ``git show`` is answered from the
    working tree here (no history needed): what is under test is the wiring, not git."""
    root = Path(baseline.__file__).resolve().parent.parent
    monkeypatch.setattr(baseline.subprocess, "run", lambda cmd, **kw: type("Shown", (), {
        "stdout": (root / cmd[-1].split(":", 1)[1]).read_text()}))
    inputs = bench.inputs()
    name_of = {id(feeds): name for name, feeds in inputs.items()}
    first_blocks = []

    def timed(make, feeds):  # the baseline "takes" twice as long; each decoder really decodes the first chunk
        is_baseline = getattr(make, "__module__", "") == "imuedge_packets_abc1234"
        first_blocks.append((is_baseline, make().feed(feeds[0])))
        return (2.0 if is_baseline else 1.0) / (bench.BUDGET_PACKETS_S * 1.5) * bench.PACKETS, \
            bench.expected_samples(name_of[id(feeds)])
    monkeypatch.setattr(bench, "inputs", lambda: inputs)
    monkeypatch.setattr(bench, "run", timed)
    code = bench.main(["--repeats", "1", "--baseline", "abc1234", "--out", str(tmp_path)])
    rows = json.loads((tmp_path / "decoder_bench.json").read_text())["rows"]
    assert [r["code"] for r in rows] == ["baseline abc1234", "today"] * 2 + ["today"] + ["baseline abc1234", "today"]
    assert [r["speedup_vs_baseline"] for r in rows if "speedup_vs_baseline" in r] == pytest.approx([2.0] * 3)
    assert [r["pass"] for r in rows] == [False, True] * 2 + [True] + [False, True] and code == 0
    assert (tmp_path / "decoder_bench.md").read_text().count("| 2.00x |") == 3
    serial = [blocks for is_baseline, blocks in first_blocks if blocks and blocks[0].n_samples == bench.LIVE_SAMPLES]
    assert len(serial) == 2  # the live-stream input, decoded by the baseline and by today's decoder alike
    assert [b.data.tobytes() for b in serial[0]] == [b.data.tobytes() for b in serial[1]]
