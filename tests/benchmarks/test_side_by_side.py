"""benchmarks/side_by_side.py: models timed round-robin in one process, and the benchmarks' shared command line."""
import json
import time

import numpy as np

from benchmarks.side_by_side import main, round_robin


def test_round_robin_rotates_the_order_and_times_only_the_run():
    calls = []

    def model(key, run_s):
        def feed(r):
            time.sleep(0.02)  # readying the input is not timed
            return r
        return feed, lambda r: (calls.append((key, r)), time.sleep(run_s))

    times = round_robin({"a": model("a", 0.0), "b": model("b", 0.002)}, rounds=6, warmup=2)
    assert set(times) == {"a", "b"} and all(t.shape == (6,) for t in times.values())
    assert np.median(times["a"]) < 2.0 <= np.median(times["b"]) < 15.0, times  # ms: b's sleep, never feed's
    timed = calls[4:]  # after the two warm-up rounds of both models
    assert [r for _, r in timed] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    firsts = [timed[i][0] for i in range(0, len(timed), 2)]
    assert firsts == ["a", "b", "a", "b", "a", "b"], firsts  # which model runs first rotates per round


def test_main_writes_json_and_markdown_per_checkpoint(tmp_path, capsys):
    def measure(checkpoint, a, log):
        return {"checkpoint": checkpoint, "rounds_seen": a.rounds, "extra": a.extra}

    def markdown(r):
        return "\n".join(f"| {c['checkpoint']} | {c['rounds_seen']} |" for c in r["checkpoints"])

    rc = main(["one.pt", "two.pt", "--rounds", "7", "--extra", "x", "--out", str(tmp_path)], doc="d", name="demo_bench",
              rounds=3, warmup=1, measure=measure, markdown=markdown,
              options=lambda p: p.add_argument("--extra"), packages=("numpy",))
    assert rc == 0
    r = json.loads((tmp_path / "demo_bench.json").read_text())
    assert [c["checkpoint"] for c in r["checkpoints"]] == ["one.pt", "two.pt"] and r["rounds"] == 7
    assert r["checkpoints"][0]["extra"] == "x" and r["machine"]["packages"]["numpy"] == np.__version__
    assert (tmp_path / "demo_bench.md").read_text() == "| one.pt | 7 |\n| two.pt | 7 |"
    # --markdown rewrites only the markdown, from the JSON
    (tmp_path / "demo_bench.md").unlink()
    assert main(["--markdown", str(tmp_path / "demo_bench.json")], doc="d", name="demo_bench", rounds=3, warmup=1,
                measure=None, markdown=markdown) == 0
    assert (tmp_path / "demo_bench.md").read_text().startswith("| one.pt | 7 |")
