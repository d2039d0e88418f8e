"""The real link: a device-simulator process on a pseudo-terminal, the runtime on the other end,
a real ExecuTorch (.pte) bundle. Each fault case of issue #4 is one test here.

The simulator runs accelerated (``--speed``) where the test is about correctness; nothing
here asserts on timing.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest

from imuedge.edge_runtime.assembler import StreamMismatch
from imuedge.edge_runtime.offline import offline_predictions
from imuedge.edge_runtime.runner import RunConfig, StreamRunner, check_manifest_against_stream
from imuedge.emulation.simulator import expected_stream, start_simulator
from imuedge.edge_runtime.sinks import JsonLinesSink, ListSink
from imuedge.edge_runtime.sources import ReplaySource, SerialSource, start_command
from imuedge.firmware_bridge import protocol as P
from imuedge.firmware_bridge.profiles import decoder_for
from imuedge.firmware_bridge.replay_data import ACC_SCALE, GYRO_SCALE
from imuedge.window import CHANNELS

pytest.importorskip("serial")


@pytest.fixture(scope="module")
def predictor(pte_bundle):
    from imuedge.bundle import load_bundle

    return load_bundle(pte_bundle, threads=1)


def stream_over_pty(tmp_path, csv, predictor, *sim_args, decoder="imuedge", hello=None, config=None,
                    assembler_kw=None, sinks=None, stop_after_disconnects=1):
    """Start the simulator on ``csv``, stream it, stop once the device has hung up ``stop_after_disconnects``
    times (the link closes after the last packet). Returns (runner, report, records)."""
    link = tmp_path / "ttyIMU"
    proc = start_simulator(csv, link, *sim_args)
    sink = ListSink()
    cfg = config or RunConfig(backpressure="block", backoff=0.05, max_backoff=0.2)
    hello = start_command() if hello is None else hello
    assembler = check_manifest_against_stream(predictor.manifest, assembler_kw=assembler_kw)
    runner = StreamRunner(SerialSource(str(link), hello=hello), lambda: decoder_for(decoder), predictor,
                          [sink, *(sinks or [])], assembler=assembler, config=cfg, log=lambda m: None)
    out = []
    th = threading.Thread(target=lambda: out.append(runner.run()))
    th.start()
    try:
        proc.wait(timeout=120)
        deadline = time.monotonic() + 30
        while (len(runner.outages.log) < stop_after_disconnects and not runner.reader_done.is_set()
               and time.monotonic() < deadline):
            time.sleep(0.02)
    finally:
        runner.stop()
        th.join(60)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, proc.stderr.read()
    return runner, out[0], sink.records


def reference(csv_path, predictor, n):
    src = ReplaySource(csv_path)
    src.open()
    rec = src.recording
    return offline_predictions(expected_stream(rec.data[:, :n], rec.channels), predictor, rec.channels)


def by_start(records):
    return {r["start"]: r for r in records}


# ------------------------------------------------------------------ acceptance (1): exactness
def test_pty_predictions_equal_offline_exactly(tmp_path, recording_csv, predictor):
    n = 1000
    csv = recording_csv(n)
    runner, rep, recs = stream_over_pty(tmp_path, csv, predictor, "--speed", "20", "--samples-per-packet", "7")
    ref = reference(csv, predictor, n)
    assert runner.error is None
    assert len(ref) == (n - 128) // 64 + 1
    assert [(r["window"], r["start"], r["index"], r["scores"]) for r in recs] == \
        [(r["window"], r["start"], r["index"], r["scores"]) for r in ref]
    assert rep["packets"]["lost"] == rep["packets"]["corrupt"] == 0
    assert rep["packets"]["received"] == -(-n // 7)
    assert rep["stream"]["mode"] == "passthrough" and rep["counters"]["samples"] == n


# ------------------------------------------------------------------ faults
def test_corrupt_bytes_counted_skipped_and_resynced(tmp_path, recording_csv, predictor):
    n = 900
    csv = recording_csv(n)
    # packet 20 (samples 200..209) has a flipped byte; garbage sits in front of packet 60
    runner, rep, recs = stream_over_pty(tmp_path, csv, predictor, "--speed", "20", "--corrupt", "20",
                                        "--noise", "60")
    pk = rep["packets"]
    assert pk["corrupt"] == 2 and pk["received"] == n // 10 - 1
    assert pk["lost"] == 1  # the corrupt packet, by its sequence number
    ref = by_start(reference(csv, predictor, n))
    got = by_start(recs)
    hit = {s for s in ref if s < 210 and s + 128 > 200}  # windows holding the corrupt packet's samples
    assert set(got) == set(ref) - hit
    assert rep["counters"]["windows_skipped_gap"] == len(hit)
    for s, r in got.items():  # every good sample arrived: the windows around the noise are exact
        assert r["scores"] == ref[s]["scores"]


def test_lost_packets_gap_reported_and_never_glued(tmp_path, recording_csv, predictor):
    n = 900
    csv = recording_csv(n)
    runner, rep, recs = stream_over_pty(tmp_path, csv, predictor, "--speed", "20", "--drop", "30,31")
    assert rep["packets"]["lost"] == 2
    st = rep["stream"]
    assert st["gap_samples_missing"] == 20 and st["gaps"] == 1 and st["gap_log"][0][2] == "missing"
    ref = by_start(reference(csv, predictor, n))
    hit = {s for s in ref if s < 320 and s + 128 > 300}
    got = by_start(recs)
    assert set(got) == set(ref) - hit  # same boundaries as offline, gap windows not predicted
    assert rep["counters"]["windows_skipped_gap"] == len(hit) == 2
    assert all(got[s]["scores"] == ref[s]["scores"] for s in got)


def test_short_gap_within_limit_is_bridged(tmp_path, recording_csv, predictor):
    csv = recording_csv(600)
    runner, rep, recs = stream_over_pty(tmp_path, csv, predictor, "--speed", "20", "--drop", "30",
                                        assembler_kw={"max_gap_s": 0.5})
    assert rep["packets"]["lost"] == 1 and rep["stream"]["gap_samples_interpolated"] == 10
    assert rep["counters"]["windows_skipped_gap"] == 0 and len(recs) == (600 - 128) // 64 + 1


def test_device_disappears_reconnects_and_resumes(tmp_path, recording_csv, predictor):
    n = 1500
    csv = recording_csv(n)
    runner, rep, recs = stream_over_pty(tmp_path, csv, predictor, "--speed", "10", "--disconnect-at", "8",
                                        "--disconnect-for", "0.5", stop_after_disconnects=2)
    assert runner.error is None
    out = rep["outages"]
    assert out["count"] == 1 and out["log"][0]["seconds"] > 0  # the final hang-up is still open
    assert rep["stream"]["gap_samples_missing"] > 0
    starts = [r["start"] for r in recs]
    gap_at = 8 * 50
    assert any(s + 128 <= gap_at for s in starts) and any(s > gap_at for s in starts)  # before and after
    ref = by_start(reference(csv, predictor, n))
    assert all(r["scores"] == ref[r["start"]]["scores"] for r in recs)  # same grid after the outage


def test_mismatched_stream_refused_at_start_naming_both(tmp_path, recording_csv, predictor):
    with pytest.raises(StreamMismatch, match=r"needs \['acc_x'.*stream has \['acc_x', 'acc_y', 'acc_z'\]"):
        check_manifest_against_stream(predictor.manifest, channels=CHANNELS[:3])
    csv = recording_csv(300, rate=25.0)  # a 25 Hz device against a 50 Hz model
    runner, rep, recs = stream_over_pty(tmp_path, csv, predictor, "--speed", "20")
    assert isinstance(runner.error, StreamMismatch) and not recs
    assert "expects 50 Hz" in str(runner.error) and "25 Hz" in str(runner.error)


def test_faster_device_is_resampled(tmp_path, recording_csv, predictor):
    csv = recording_csv(1200, rate=100.0)
    runner, rep, recs = stream_over_pty(tmp_path, csv, predictor, "--speed", "10")
    assert runner.error is None and rep["stream"]["mode"] == "resample"
    assert rep["stream"]["stream_rate_hz"] == 100.0 and len(recs) == (600 - 128) // 64 + 1


def test_text_lines_over_serial(tmp_path, recording_csv, predictor):
    csv = recording_csv(500)
    runner, rep, recs = stream_over_pty(tmp_path, csv, predictor, "--speed", "10", "--format", "text",
                                        decoder="text", hello=b"\n", assembler_kw={"declared_rate": 50.0})
    assert runner.error is None and len(recs) == (500 - 128) // 64 + 1
    assert rep["packets"]["corrupt"] == 0 and rep["stream"]["rate_source"] == "declared"


def test_sigint_flushes_sinks_and_profile(tmp_path, recording_csv, predictor):
    csv = recording_csv(3000)
    out, prof = tmp_path / "p.jsonl", tmp_path / "profile.json"
    sink = JsonLinesSink(str(out), flush_every=1000)  # nothing reaches the file unless flushed
    runner = StreamRunner(ReplaySource(csv, 5.0), None, predictor, [sink],
                          config=RunConfig(profile_path=str(prof), profile_every=3600), log=lambda m: None)
    seen, done = threading.Event(), threading.Event()
    runner.sinks.append(type("S", (), {"emit": lambda self, r: seen.set(), "close": lambda self: None})())

    def interrupt():
        if seen.wait(60) and not done.is_set():
            os.kill(os.getpid(), signal.SIGINT)  # a real SIGINT, delivered to the main thread
    threading.Thread(target=interrupt, daemon=True).start()
    # Ctrl-C's handler, also when this test runs as a shell's background job (which starts with SIGINT ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        rep = runner.run()  # main thread
    finally:
        done.set()
        signal.signal(signal.SIGINT, previous)
    assert rep["interrupted"] is True
    lines = out.read_text().splitlines()
    assert lines and len(lines) == rep["counters"]["windows_predicted"]
    saved = json.loads(prof.read_text())
    assert saved["interrupted"] is True and saved["counters"]["windows_predicted"] == len(lines)


# ------------------------------------------------------------------ replay of a raw capture
def test_replay_raw_capture_equals_offline(tmp_path, recording_csv, predictor):
    n = 700
    csv = recording_csv(n)
    src = ReplaySource(csv)
    src.open()
    x = src.recording.data
    from imuedge.emulation.simulator import quantize

    counts = quantize(x, CHANNELS)
    cap = b"\x00" + b"".join(
        P.frame(P.encode_data(P.DataPacket(k, (4_000_000_000 + s * 20000) & 0xFFFFFFFF, 20000, 0x3F,
                                           ACC_SCALE, GYRO_SCALE, counts[s:s + 25])))
        for k, s in enumerate(range(0, n, 25)))  # timestamps wrap mid-capture
    (tmp_path / "cap.bin").write_bytes(cap)
    sink = ListSink()
    rep = StreamRunner(ReplaySource(tmp_path / "cap.bin", None), lambda: decoder_for("imuedge"), predictor,
                       [sink]).run()
    ref = reference(csv, predictor, n)
    assert [(r["start"], r["scores"]) for r in sink.records] == [(r["start"], r["scores"]) for r in ref]
    assert rep["stream"]["grid_resets"] == 0


# ------------------------------------------------------------------ acceptance (4): record round trip
def test_record_over_pty_round_trips_through_the_loader(tmp_path, recording_csv):
    from imuedge.cli import main
    from imuedge.data import RecordingsConfig, load_recordings

    n = 400
    csv = recording_csv(n)
    link = tmp_path / "ttyIMU"
    proc = start_simulator(csv, link, "--speed", "20")
    outdir = tmp_path / "captures"
    outdir.mkdir()
    try:
        rc = main(["record", "--source", f"serial:{link}", "--out", str(outdir / "walk_01.csv"),
                   "--label", "walking", "--subject", "7", "--samples", str(n)])
    finally:
        proc.wait(60)
    assert rc == 0
    ds, errors = load_recordings(outdir, RecordingsConfig(strict=True))
    assert not errors
    rec = ds.recordings[0]
    assert rec.sample_rate_hz == 50 and rec.subject == 7 and rec.channels == CHANNELS
    assert set(ds.label_names.values()) == {"walking"} and (rec.labels >= 0).all()
    src = ReplaySource(csv)
    src.open()
    np.testing.assert_array_equal(rec.data, expected_stream(src.recording.data, CHANNELS))


def test_device_plugged_in_after_start(tmp_path, recording_csv, predictor):
    csv = recording_csv(400)
    link = tmp_path / "ttyLATE"
    sink = ListSink()
    runner = StreamRunner(SerialSource(str(link), hello=start_command()), lambda: decoder_for("imuedge"), predictor,
                          [sink], config=RunConfig(backpressure="block", backoff=0.05, max_backoff=0.1),
                          log=lambda m: None)
    th = threading.Thread(target=runner.run)
    th.start()
    try:
        deadline = time.monotonic() + 30
        while not runner.outages.log and time.monotonic() < deadline:  # waiting for the device
            time.sleep(0.01)
        proc = start_simulator(csv, link, "--speed", "20")
        proc.wait(timeout=60)
        while len(runner.outages.log) < 2 and time.monotonic() < deadline + 30:  # its hang-up at the end
            time.sleep(0.02)
    finally:
        runner.stop()
        th.join(60)
    assert runner.error is None and runner.outages.count == 1
    ref = reference(csv, predictor, 400)
    assert [(r["start"], r["scores"]) for r in sink.records] == [(r["start"], r["scores"]) for r in ref]
