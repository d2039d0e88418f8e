"""The stream benchmark's soak verdict: RSS growth after warm-up against its limit, in the JSON and the table."""
import pytest

from benchmarks.stream_bench import rss_growth, soak_markdown


def soak(trace, limit=5.0):
    return {"bundle": "pte-int8", "seconds": 10, "speed": 10, "samples": 500, "windows": 7, "windows_dropped": 0,
            "packets": {"lost": 0, "corrupt": 0}, "cpu_utilisation": 0.2, "peak_rss_mb": max(trace),
            **rss_growth(trace, limit)}


def test_growth_is_measured_after_warm_up_and_judged_against_the_limit():
    # 10 samples: warm-up = the first 2; the start-up climb (100 -> 120) is not growth
    steady = soak([100, 110, 120, 120.5, 121, 121, 121.5, 122, 122, 122.4])
    assert steady["rss_after_warmup_mb"] == 120 and steady["rss_growth_mb"] == pytest.approx(2.4) and steady["rss_growth_pass"]
    assert "RSS growth after warm-up: 2.40 MB, limit 5 MB: **PASS**." in "\n".join(soak_markdown(steady))
    leaking = soak([100, 110, 120, 121, 122, 123, 124, 125, 126, 127])
    assert leaking["rss_growth_mb"] == 7 and not leaking["rss_growth_pass"]
    assert "**FAIL**" in "\n".join(soak_markdown(leaking))
    assert not soak([100, 101, 102, 103, 104, 105, 106, 107, 108, 109], limit=5.0)["rss_growth_pass"]
    # judged against the limit it is given (--soak-limit-mb), not a fixed 5 MB
    assert soak([100, 110, 120, 121, 122, 123, 124, 125, 126, 127], limit=8.0)["rss_growth_pass"]  # 7 MB < 8
    assert not soak([100, 110, 120, 120.5, 121, 121, 121.5, 122, 122, 122.4], limit=2.0)["rss_growth_pass"]


def test_no_trace_is_a_failure_not_a_pass():
    empty = rss_growth([], 5.0)
    assert empty["rss_growth_pass"] is False and empty["rss_growth_mb"] is None


def test_device_rss_rows_are_judged_against_their_format_target():
    from benchmarks.stream_bench import markdown, rss_verdict

    assert rss_verdict("tflite", 80.0) == {"target_mb": 80.0, "pass": True}
    assert rss_verdict("tflite", 80.5)["pass"] is False and rss_verdict("onnx", 99.9)["pass"] is True
    assert rss_verdict("onnx", 100.1)["pass"] is False and rss_verdict("pte", 365.0) == {"target_mb": None, "pass": None}
    row = {"bundle": "onnx-int8", "install": "device", "peak_rss_mb": 120.0, "torch_imported": [], "windows": 9,
           "packets_lost": 0, **rss_verdict("onnx", 120.0)}
    table = markdown({"machine": {"cpu": "x", "cores": 2, "platform": "p", "python": "3", "load_average_at_start": [0, 0, 0]},
                      "device_rss": [row]})
    assert "| onnx-int8 | device | 120.0 | 100 | FAIL | no | 9 | 0 |" in table


def test_int8_replay_is_judged_against_1000x_and_says_when_the_model_alone_is_slower():
    from benchmarks.stream_bench import markdown, replay_verdict

    def med(x, model):
        return {"samples_per_s": x * 50, "x_realtime": x, "x_realtime_with_parse": x * 0.8, "model_x_realtime": model,
                "share_of_model_bound": x / model, "stream_s": 1.0, "parse_s": 0.2}

    assert replay_verdict("int8", med(1200, 1400)) == {"replay_verdict": "PASS"}
    assert replay_verdict("int8", med(900, 1400)) == {"replay_verdict": "FAIL"}  # the runtime's own shortfall
    assert replay_verdict("int8", med(600, 683)) == {
        "replay_verdict": "model-bound: predict alone reaches 683x on this host"}
    assert replay_verdict("fp32", med(600, 683)) == {"replay_verdict": None}  # the target is for int8 bundles
    rows = [{"bundle": b, "threads": 1, "median": m, **replay_verdict(p, m)}
            for b, p, m in (("pte-int8", "int8", med(598, 683)), ("onnx-fp32", "fp32", med(664, 537)))]
    table = markdown({"machine": {"cpu": "x", "cores": 2, "platform": "p", "python": "3"}, "throughput": rows})
    assert "| pte-int8 | 1 | 29,900 | 598 | 478 | 683 | 88% | 1.00 | 0.20 | model-bound: predict alone reaches 683x" in table
    assert "| onnx-fp32 | 1 | 33,200 | 664 | 531 | 537 | 124% | 1.00 | 0.20 | – |" in table


def test_paced_inference_sleeps_or_spins_between_calls_and_the_table_sets_them_side_by_side(monkeypatch):
    """The model at the stream's cadence: once per interval, the core idle (sleep) or busy (spin) in between;
    the cadence table gives one row per bundle, from its first latency row."""
    import time

    import numpy as np

    from benchmarks import stream_bench as sb

    calls = []
    pred = type("Pred", (), {"predict": lambda self, w: calls.append(time.perf_counter())})()
    windows = np.zeros((3, 6, 128), np.float32)
    monkeypatch.setattr(sb.time, "sleep", lambda s: (_ for _ in ()).throw(AssertionError("slept while spinning")))
    spun = sb.bare_inference(pred, windows, n=15, interval_s=0.002, spin=True)
    assert spun["spin"] and spun["count"] == 5 and min(np.diff(calls)) >= 0.002
    slept = []
    monkeypatch.setattr(sb.time, "sleep", slept.append)
    assert not sb.bare_inference(pred, windows, n=12, interval_s=0.004)["spin"] and slept == [0.004] * 12
    stats = lambda p50, p99: {"p50_ms": p50, "p99_ms": p99, "interval_s": 0.04}  # noqa: E731
    row = lambda b, rate, paced: {"bundle": b, "rate_hz": rate, "bare_inference": stats(0.4, 0.5),  # noqa: E731
                                  "paced_inference": stats(paced, 1.4), "paced_spinning_inference": stats(0.8, 1.2)}
    lines = [line for line in sb.cadence_markdown([row("pte-int8", 50, 0.9), row("pte-int8", 100, 0.7),
                                                   row("onnx-int8", 50, 0.6)]) if line.startswith("| ")]
    assert lines[1:] == ["| pte-int8 | 40 | 0.400 / 0.500 | 0.900 / 1.400 | 0.800 / 1.200 |",
                         "| onnx-int8 | 40 | 0.400 / 0.500 | 0.600 / 1.400 | 0.800 / 1.200 |"]
    assert sb.cadence_markdown([{"bundle": "older run, no spinning row"}]) == []


def test_alternating_runs_interleave_the_variants_and_report_medians(monkeypatch, tmp_path):
    """A/B streams (the pin phase, decoder_bench --stream) alternate run by run, so a drifting host reaches
    every variant alike; the table gives each variant's medians and every run's runtime part."""
    from benchmarks import stream_bench as sb

    calls = []

    def fake_pty_run(pred, csv, rate, seconds, work, hop=None, cpu=None):
        calls.append(cpu)
        k = len(calls)  # the host drifts: every run is slower than the one before
        lat = {"decode": {"p50_ms": 0.1 * k}, "predict": {"p50_ms": 1.0, "p99_ms": 2.0},
               "e2e": {"p50_ms": 1.0 + (0.2 if cpu is None else 0.1) * k, "p99_ms": 3.0}}
        return {"latency": lat, "counters": {"windows_predicted": 10}, "packets": {"lost": 0}}, None, None
    monkeypatch.setattr(sb, "pty_run", fake_pty_run)
    rows = sb.alternating(None, tmp_path / "x.csv", {"free": {}, "pinned": {"cpu": 1}}, 3, 1.0, tmp_path)
    assert calls == [None, 1] * 3
    free, pinned = rows
    assert [r["runtime_p50_ms"] for r in free["runs"]] == pytest.approx([0.2, 0.6, 1.0])
    assert [r["runtime_p50_ms"] for r in pinned["runs"]] == pytest.approx([0.2, 0.4, 0.6])
    assert free["median_runtime_p50_ms"] == pytest.approx(0.6) and pinned["median_runtime_p50_ms"] == pytest.approx(0.4)
    assert free["median_runtime_p99_ms"] == pytest.approx(1.0) and pinned["median_decode_p50_ms"] == pytest.approx(0.4)
    table = sb.alternating_markdown("A/B", rows)
    assert "## A/B: 3 runs per variant, alternating; medians over the runs" in table
    assert "| pinned | 0.400 | 1.400 / 3.000 | 1.000 | 0.400 / 1.000 | 0.200, 0.400, 0.600 |" in table
