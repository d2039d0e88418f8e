"""Stages one by one, no model and no tty: assembler, windower, sinks, profiler, sources, URIs."""
from __future__ import annotations

import json

import numpy as np
import pytest

from imuedge.edge_runtime.assembler import Assembler, StreamMismatch
from imuedge.edge_runtime.offline import offline_predictions
from imuedge.edge_runtime.runner import RunConfig, StreamRunner
from imuedge.edge_runtime.profiler import Profiler, table
from imuedge.edge_runtime.sinks import JsonLinesSink, ListSink, MajorityVote
from imuedge.edge_runtime.sources import ReplaySource, SourceError, parse_source
from imuedge.edge_runtime.windower import Windower
from imuedge.firmware_bridge.profiles import SampleBlock
from imuedge.window import CHANNELS

ACC = CHANNELS[:3]


def block(data, t0_us=None, period_us=20000.0, seq=None, lost=0, channels=CHANNELS, timestamps=None):
    return SampleBlock(np.asarray(data, np.float32), tuple(channels), t0_us, period_us if t0_us is not None else None,
                       seq, lost, timestamps_us=timestamps)


def ramp(n, c=6, start=0):
    return np.tile(np.arange(start, start + n, dtype=np.float32), (c, 1)) + np.arange(c, dtype=np.float32)[:, None]


class FakePredictor:
    """Sum of the window per class: enough to check plumbing without a runtime."""

    def __init__(self, window=8, hop=4, rate=50.0, channels=CHANNELS, delay=0.0):
        self.manifest = {"format": "fake", "precision": "fp32", "task": "classify",
                         "input": {"channels": list(channels), "sample_rate_hz": rate, "window": window, "hop": hop},
                         "output": {"class_names": ["a", "b"]}}
        self.delay = delay

    def predict(self, w):
        import time
        if self.delay:
            time.sleep(self.delay)
        s = float(np.asarray(w, np.float64).sum())
        return np.array([s, -s], np.float32)


# ------------------------------------------------------------------ windower
def test_windower_boundaries_match_offline_any_chunking():
    x = ramp(100)
    rng = np.random.default_rng(0)
    w = Windower(6, 16, 8)
    got, i = [], 0
    while i < 100:
        n = int(rng.integers(1, 20))
        got += w.push(x[:, i:i + n], np.zeros(min(n, 100 - i)))
        i += n
    assert [g.start for g in got] == list(range(0, 100 - 16 + 1, 8))
    for g in got:
        np.testing.assert_array_equal(g.data, x[:, g.start:g.start + 16])


def test_windower_skips_windows_with_nan_and_reset_restarts_grid():
    x = ramp(40)
    x[:, 10] = np.nan
    w = Windower(6, 8, 4)
    got = w.push(x, np.zeros(40))
    assert [g.start for g in got] == [0, 12, 16, 20, 24, 28, 32]  # 4..11 and 8..15 hold sample 10
    assert w.skipped_gap == 2
    w2 = Windower(6, 8, 4)
    w2.push(ramp(6), np.zeros(6))
    w2.reset()
    got = w2.push(ramp(12), np.zeros(12))  # 18 samples; the first 6 never join a window
    assert [g.start for g in got] == [6, 10]


def test_windower_hop_larger_than_window():
    w = Windower(1, 4, 6)
    got = w.push(np.arange(20, dtype=np.float32)[None], np.zeros(20))
    assert [g.start for g in got] == [0, 6, 12]
    assert got[2].data.tolist() == [[12, 13, 14, 15]]


# ------------------------------------------------------------------ assembler
def test_assembler_passthrough_is_bit_exact_and_reorders_channels():
    a = Assembler(("acc_x", "gyro_z"), 50.0)
    x = np.random.default_rng(1).normal(size=(6, 30)).astype(np.float32)
    out, arr, reset = a.feed(block(x, 0), 1.0)
    assert not reset and out.dtype == np.float32
    np.testing.assert_array_equal(out, x[[0, 5]])
    assert a.stats.mode == "passthrough" and a.stats.rate_source == "device"


def test_assembler_short_gap_interpolated_long_gap_nan_huge_gap_resets():
    a = Assembler(CHANNELS, 50.0, max_gap_s=0.1, max_fill_s=2.0)
    a.feed(block(ramp(10), 0), 0.0)
    out, _, _ = a.feed(block(ramp(10, start=12), 12 * 20000), 0.1)  # 2 missing: 60 ms -> bridged
    assert out.shape[1] == 12 and not np.isnan(out).any()
    np.testing.assert_allclose(out[0, :2], [10, 11], atol=1e-5)
    out, _, _ = a.feed(block(ramp(10, start=32), 32 * 20000), 0.2)  # 10 missing: 220 ms -> NaN
    assert out.shape[1] == 20 and np.isnan(out[:, :10]).all() and not np.isnan(out[:, 10:]).any()
    assert a.stats.gap_samples_interpolated == 2 and a.stats.gap_samples_missing == 10
    _, _, reset = a.feed(block(ramp(5), 500 * 20000), 0.3)  # 10 s later: grid restarts
    assert reset and a.stats.resets == 1
    _, _, reset = a.feed(block(ramp(5), 0), 0.4)  # time went backwards: device rebooted
    assert reset and a.stats.resets == 2


def test_assembler_lost_packets_without_timestamps_make_a_gap():
    a = Assembler(CHANNELS, 50.0, declared_rate=50.0, max_gap_s=0.01)
    a.feed(block(ramp(5)), 0.0)
    out, _, _ = a.feed(block(ramp(5), lost=3), 0.1)
    assert out.shape[1] == 8 and np.isnan(out[:, :3]).all()


def test_assembler_measures_rate_from_arrival_when_the_format_has_none():
    a = Assembler(CHANNELS, 50.0, measure_s=2.0)
    outs = [a.feed(block(ramp(10)), t * 0.2)[0].shape[1] for t in range(12)]  # 10 samples / 0.2 s = 50 Hz
    assert sum(outs) == 120 and outs[0] == 0  # held until measured, then released, none lost
    assert a.stats.rate_source == "measured" and abs(a.stats.stream_rate_hz - 50) < 1e-6


def test_assembler_resamples_faster_stream_antialiased():
    a = Assembler(("acc_x",), 50.0)
    t = np.arange(400) / 200.0  # 200 Hz, 2 s
    sig = np.sin(2 * np.pi * 1.0 * t) + 0.5 * np.sin(2 * np.pi * 90.0 * t)  # 90 Hz would alias at 50 Hz
    out = np.concatenate([a.feed(block(sig[None, i:i + 20], i * 5000, 5000, channels=("acc_x",)), 0)[0]
                          for i in range(0, 400, 20)], axis=1)
    assert a.stats.mode == "resample" and abs(out.shape[1] - 100) <= 1
    ref = np.sin(2 * np.pi * 1.0 * np.arange(out.shape[1]) / 50.0)
    assert np.abs(out[0, 2:] - ref[2:]).max() < 0.2  # the 90 Hz tone is mostly gone, 1 Hz kept


@pytest.mark.parametrize("rate,why", [(25.0, "upsampling"), (1000.0, "faster")])
def test_assembler_refuses_unsafe_rates_naming_both(rate, why):
    a = Assembler(CHANNELS, 50.0)
    with pytest.raises(StreamMismatch) as e:
        a.feed(block(ramp(5), 0, 1e6 / rate), 0.0)
    assert "50 Hz" in str(e.value) and f"{rate:.4g} Hz" in str(e.value) and why in str(e.value)


def test_assembler_refuses_missing_channels_naming_both():
    a = Assembler(CHANNELS, 50.0)
    with pytest.raises(StreamMismatch) as e:
        a.check_declared(None, ACC)
    assert "gyro_x" in str(e.value) and "acc_z" in str(e.value)


def test_assembler_drift_estimate():
    a = Assembler(CHANNELS, 50.0)
    for k in range(200):  # device clock 100 ppm slow against the host
        a.feed(block(ramp(10), k * 200000), k * 0.2 * (1 + 100e-6))
    assert abs(a.stats.clock_drift_ppm - 100) < 1


# ------------------------------------------------------------------ sinks, profiler
def test_majority_vote_and_jsonl(tmp_path):
    inner = ListSink()
    s = MajorityVote(inner, 3)
    for c in ["a", "b", "b", "a", "a"]:
        s.emit({"class": c})
    assert [r["smoothed"] for r in inner.records] == ["a", "b", "b", "b", "a"]
    j = JsonLinesSink(str(tmp_path / "p.jsonl"))
    j.emit({"x": 1.5})
    j.close()
    assert json.loads((tmp_path / "p.jsonl").read_text()) == {"x": 1.5}


def test_profiler_report_is_json_and_bounded():
    p = Profiler(keep=100)
    for i in range(1000):
        p.add("predict", i * 1e-6)
    p.count("windows_produced", 3)
    rep = p.report()
    json.dumps(rep)
    assert rep["latency"]["predict"]["count"] == 1000 and rep["latency"]["predict"]["max_ms"] == pytest.approx(0.999)
    assert len(p.stages["predict"].snapshot()) == 100
    assert "predict" in table({**rep, "packets": {}})


def test_profiler_measures_this_process_cpu_and_memory():
    """The CPU and memory figures follow what this process really did: a known amount of CPU work,
    then an idle stretch, then a known allocation."""
    import time

    p = Profiler()
    spin_until = time.process_time() + 0.3
    while time.process_time() < spin_until:  # 0.3 s of CPU on one thread
        pass
    busy = p.report()
    assert 0.3 <= busy["cpu"]["process_s"] <= busy["wall_s"] * (busy["cpu"]["cores"] or 1) + 0.05
    assert busy["cpu"]["utilisation"] == pytest.approx(busy["cpu"]["process_s"] / busy["wall_s"], abs=0.02)
    time.sleep(0.3)
    idle = p.report()  # "recent" = since the previous report: a sleep uses next to no CPU
    assert idle["cpu"]["utilisation_recent"] < 0.2 and idle["cpu"]["process_s"] < busy["cpu"]["process_s"] + 0.06

    before = idle["memory"]
    extra_mb = before["peak_rss_mb"] - before["rss_mb"] + 80  # enough to pass this process's high-water mark
    block = np.ones(int(extra_mb * 2**20) // 8)  # touched: resident
    after = p.report()["memory"]
    assert after["rss_mb"] >= before["rss_mb"] + extra_mb - 10
    assert after["peak_rss_mb"] >= before["peak_rss_mb"] + 70
    del block
    freed = p.report()["memory"]  # the block given back: RSS falls, the high-water mark stays
    assert freed["rss_mb"] <= after["rss_mb"] - extra_mb + 10
    assert freed["peak_rss_mb"] >= after["peak_rss_mb"] - 5  # (the kernel settles it at unmap: a few pages off)


# ------------------------------------------------------------------ sources
@pytest.mark.parametrize("uri,problem", [("ttyACM0", "expected serial:"), ("usb:/dev/x", "unknown kind"),
                                         ("serial:/dev/x?baud=fast", "not an integer"),
                                         ("serial:/dev/x?parity=N", "unknown option"),
                                         ("replay:x.csv?speed=-1", "speed"), ("ble:dev?service=hid", "service")])
def test_bad_source_uris(uri, problem):
    with pytest.raises(SourceError, match=problem):
        parse_source(uri)


def test_source_uris():
    s = parse_source("serial:/dev/ttyACM0?baud=921600")
    assert (s.port, s.baud) == ("/dev/ttyACM0", 921600)
    assert parse_source("replay:a.csv?speed=max").speed is None
    assert parse_source("replay:a.csv?speed=10").speed == 10
    b = parse_source("ble:AA:BB:CC:DD:EE:FF?service=nus")
    assert b.service == "nus" and b.default_decoder == "imuedge"
    assert parse_source("ble:MyIMU").default_decoder == "imuedge-ble"


def test_replay_missing_file_is_named(tmp_path):
    with pytest.raises(SourceError, match="nope.csv"):
        ReplaySource(tmp_path / "nope.csv").open()


# ------------------------------------------------------------------ runner with a fake predictor
def test_runner_csv_replay_equals_offline_and_slow_inference_drops_windows(recording_csv, tmp_path):
    csv = recording_csv(400)
    pred = FakePredictor(window=32, hop=8)
    sink = ListSink()
    rep = StreamRunner(ReplaySource(csv, None), None, pred, [sink]).run()
    src = ReplaySource(csv)
    src.open()
    ref = offline_predictions(src.recording, pred)
    assert [(r["start"], r["scores"]) for r in sink.records] == [(r["start"], r["scores"]) for r in ref]
    assert rep["counters"]["windows_predicted"] == len(ref) == (400 - 32) // 8 + 1
    # the same file fed as a live source to a predictor slower than the hop
    slow = FakePredictor(window=32, hop=8, delay=0.02)
    sink = ListSink()
    runner = StreamRunner(ReplaySource(csv, None), None, slow, [sink],
                          config=RunConfig(backpressure="drop", queue_size=2))
    rep = runner.run()
    c = rep["counters"]
    assert c["samples"] == 400  # samples never dropped
    assert c["windows_dropped"] > 0 and c["windows_produced"] == len(ref)
    assert c["windows_predicted"] + c["windows_dropped"] == c["windows_produced"]
    starts = [r["start"] for r in sink.records]
    assert starts == sorted(starts) and starts[-1] == ref[-1]["start"]  # oldest dropped, newest kept


def test_runner_threaded_layout_predicts_the_same_windows(recording_csv):
    # inline (the default: one worker predicts as it windows) and the reader + inference threads agree
    csv = recording_csv(400)
    out = {}
    for inline in (True, False):
        sink = ListSink()
        rep = StreamRunner(ReplaySource(csv, None), None, FakePredictor(window=32, hop=8), [sink],
                           config=RunConfig(inline=inline)).run()
        assert rep["inline"] is inline and rep["counters"]["windows_dropped"] == 0
        out[inline] = [(r["start"], r["scores"]) for r in sink.records]
    assert out[True] == out[False] and len(out[True]) == (400 - 32) // 8 + 1


class AffinityPredictor(FakePredictor):
    """Records the CPUs the predicting thread may run on at each call."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.seen = set()

    def predict(self, w):
        import os
        self.seen.add(frozenset(os.sched_getaffinity(0)))  # 0: the calling thread
        return super().predict(w)


@pytest.mark.parametrize("inline", [True, False])
def test_runner_pins_the_predicting_thread_to_the_cpu_asked_and_only_that_thread(recording_csv, inline):
    import os

    from imuedge.edge_runtime.runner import check_cpu

    csv = recording_csv(200)
    allowed = frozenset(os.sched_getaffinity(0))
    cpu = max(allowed)
    pred = AffinityPredictor(window=32, hop=8)
    rep = StreamRunner(ReplaySource(csv, None), None, pred, [ListSink()],
                       config=RunConfig(inline=inline, cpu=cpu)).run()
    assert pred.seen == {frozenset({cpu})} and rep["pinned_cpu"] == cpu and rep["counters"]["windows_predicted"] > 0
    assert frozenset(os.sched_getaffinity(0)) == allowed  # the calling thread (and the process) are left alone
    free = AffinityPredictor(window=32, hop=8)
    StreamRunner(ReplaySource(csv, None), None, free, [ListSink()], config=RunConfig(inline=inline)).run()
    assert free.seen == {allowed}
    with pytest.raises(ValueError, match=f"--cpu 4096: this process may run on CPU {min(allowed)}"):
        check_cpu(4096)


def test_cpu_pinning_without_linux_is_said_not_ignored(monkeypatch):
    import os

    from imuedge.edge_runtime.runner import check_cpu

    monkeypatch.delattr(os, "sched_setaffinity")
    with pytest.raises(ValueError, match="--cpu 0: pinning a thread to a CPU needs Linux"):
        check_cpu(0)
    assert check_cpu(None) is None


# ------------------------------------------------------------------ bad values never become predictions
class BlockSource:
    """SampleBlocks from memory, then the end of the stream (a stand-in for a text device that sent them)."""

    default_decoder = None
    realtime = False

    def __init__(self, blocks):
        self.blocks = list(blocks)

    def open(self):
        pass

    def read(self, timeout=0.1):
        if not self.blocks:
            raise EOFError("end")
        return [self.blocks.pop(0)]

    def close(self):
        pass

    def describe(self):
        return "memory"


class NaNOnLoud(FakePredictor):
    """Scores NaN for windows whose sum is large: a model that overflows on some input."""

    def predict(self, w):
        out = super().predict(w)
        return np.full_like(out, np.nan) if out[0] > 1000 else out


def test_implausible_windows_and_non_finite_scores_are_skipped_and_counted(tmp_path):
    x = np.zeros((6, 96), np.float32)
    x[2] = 9.8
    x[0, 40] = 1e30  # a corrupt sample: windows holding it are not predicted
    x[1, 70:80] = 300.0  # loud but plausible: the model gives NaN there
    out = tmp_path / "p.jsonl"
    sink = JsonLinesSink(str(out))
    pred = NaNOnLoud(window=16, hop=8)
    rep = StreamRunner(BlockSource([block(x[:, i:i + 8], i * 20000) for i in range(0, 96, 8)]), None, pred,
                       [sink]).run()
    c = rep["counters"]
    assert c["windows_produced"] == (96 - 16) // 8 + 1 == 11
    assert c["windows_skipped_implausible"] == 2  # starts 32 and 40 hold sample 40
    assert c["windows_skipped_nonfinite_output"] == 2  # starts 64 and 72 hold 10 and 8 loud samples
    assert c["windows_predicted"] == 11 - 2 - 2
    records = [json.loads(line) for line in out.read_text().splitlines()]  # strict JSON: no NaN anywhere
    assert [r["start"] for r in records] == [0, 8, 16, 24, 48, 56, 80]
    assert all(np.isfinite(r["scores"]).all() for r in records)
    assert "skipped (implausible values) 2  skipped (non-finite model output) 2" in table(rep)


@pytest.mark.parametrize("rate", [200.0, 160.0, 125.0, 62.5, 50.0])  # box filter of 4, 3, 2, 1; passthrough
@pytest.mark.parametrize("chunks", [[2], [1, 3, 7], [25]])
def test_assembler_resampled_stream_does_not_depend_on_packet_size(rate, chunks):
    # the same stream onto the 50 Hz grid, in one block and in small packets (device times in whole µs, as the
    # wire protocol sends them): the box filter and the interpolation carry across packets, so the outputs agree
    n = int(4 * rate)
    period = 1e6 / rate
    x = np.random.default_rng(0).normal(size=(6, n)).astype(np.float32) + np.sin(np.arange(n) / 7)[None]
    whole = Assembler(CHANNELS, 50.0).feed(block(x, 0, period), 0.0)[0]
    a, parts, i, k = Assembler(CHANNELS, 50.0), [], 0, 0
    while i < n:
        m = chunks[k % len(chunks)]
        out, _, reset = a.feed(block(x[:, i:i + m], int(i * period), period), 0.0)
        assert not reset
        parts.append(out)
        i, k = i + m, k + 1
    packets = np.concatenate(parts, axis=1)
    assert a.stats.mode == ("passthrough" if rate == 50.0 else "resample") and a.stats.gaps == a.stats.resets == 0
    assert packets.shape == whole.shape and abs(whole.shape[1] - n * 50.0 / rate) <= 1
    np.testing.assert_allclose(packets, whole, rtol=0, atol=1e-5)


def test_assembler_resampling_bridges_short_gaps_fills_long_ones_and_restarts_on_reboot():
    # 200 Hz in 2-sample packets onto 50 Hz: a 60 ms hole is bridged, a 500 ms one is NaN (windows skipped),
    # time going backwards restarts the grid
    a = Assembler(CHANNELS, 50.0, max_gap_s=0.1)
    x = ramp(2000)
    kept = np.r_[0:400, 412:800, 900:2000]  # 12 samples (60 ms) missing, then 100 (500 ms)
    out = np.concatenate([a.feed(block(x[:, kept[i:i + 2]], int(kept[i]) * 5000, 5000), 0.0)[0]
                          for i in range(0, len(kept), 2)], axis=1)
    assert a.stats.mode == "resample" and a.stats.gaps == 2 and a.stats.resets == 0
    assert abs(out.shape[1] - 500) <= 1  # 10 s on the 50 Hz grid, holes included
    nan = np.isnan(out[0])
    assert nan.sum() == a.stats.gap_samples_missing and 23 <= nan.sum() <= 25  # the 500 ms hole
    where = np.flatnonzero(nan)
    assert 195 <= where[0] <= 205 and np.all(np.diff(where) == 1)  # one hole, where the 500 ms are missing
    assert a.stats.gap_samples_interpolated >= 2
    # a ramp stays the ramp through the centred filter (input k has value k; the grid starts at the first
    # filtered time, 1.5 inputs before the first input's: output j is 4 j - 1.5), except
    # where the filter restarts from a repeated first sample (at the start, after each gap) and across the bridge
    primed = np.r_[2:99, 106:200, 228:500]
    np.testing.assert_allclose(out[0, primed], 4.0 * primed - 1.5, atol=1e-3)
    _, _, reset = a.feed(block(x[:, :2], 0, 5000), 0.0)
    assert reset and a.stats.resets == 1


class WaitingLiveSource(BlockSource):
    """A live link whose data is already waiting at every read (the worker was busy predicting meanwhile)."""

    realtime = True


def test_latency_counts_from_the_last_look_when_data_was_already_waiting():
    # each block completes a window; the model takes 20 ms, during which the next block "arrives": its window's
    # e2e must include that wait (stamped at the worker's previous look), not start when it was read
    x = np.zeros((6, 64), np.float32)
    slow = FakePredictor(window=8, hop=8, delay=0.02)
    rep = StreamRunner(WaitingLiveSource([block(x[:, i:i + 8], i * 20000) for i in range(0, 64, 8)]), None, slow,
                       [ListSink()], config=RunConfig(backpressure="block")).run()
    assert rep["counters"]["windows_predicted"] == 8
    assert rep["latency"]["e2e"]["p50_ms"] >= 1.5 * rep["latency"]["predict"]["p50_ms"]
