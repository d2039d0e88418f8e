"""End-to-end demo: the HAPT test subjects over a real serial link into a bundle, checked against offline.

``stream_hapt_test_subjects(bundle, out)`` takes every HAPT recording of the test
subjects (the default subject split, ``HaptWindowsConfig``: seed 0, 60/20/20 -- the
subjects of ``load_hapt_windows()["test"]``), as continuous raw recordings in the
bundle's channels and rate, and for each one:

1. starts the device simulator (``simulator.py``, a separate process on a
   pseudo-terminal) playing it as imuedge protocol DATA packets (int16 counts), paced
   at ``pace`` x real time;
2. runs ``StreamRunner`` on ``serial:<that pty>`` with the bundle (START command at
   connect, the imuedge decoder, the assembler, the windower, one inference thread);
3. computes ``offline_predictions`` for the same recording with the same predictor on
   exactly the samples the host received (``simulator.expected_stream``: the int16
   quantisation of the protocol) and compares window by window: same window indices
   and starts, same predicted class, bit-identical float32 scores.

One link per recording, not one per subject: a recording is one capture, so window
starts restart at 0 for each (as offline cuts them); gluing two recordings of a
subject together would make windows that span the seam, which no device would send.
While one recording streams, the simulator of the next one is already started and
waits for the host, so the process start-up does not add to the run time.

Backpressure is ``block`` (no window is dropped on a slow CPU: the pty's flow control
holds the device back instead), so every window is predicted and compared.

Written under ``out``: ``predictions.jsonl`` (the live records, each with its
``recording``), ``profile.json`` (the runtime's profile of the whole run, packet and
stream sections summed over the recordings, one ``recordings`` entry each) and
``summary.json`` (what the function returns).
"""
from __future__ import annotations

import json
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from imuedge.edge_runtime.sinks import JsonLinesSink, ListSink, Sink
from imuedge.emulation import RigError, one_line

COMPARED = ("window", "start", "index", "class", "scores")


class _Tagged(Sink):
    """Adds ``recording`` to each record and writes it to a shared JSON-lines sink (left open)."""

    def __init__(self, inner: JsonLinesSink, recording_id: str):
        self.inner, self.rid = inner, recording_id

    def emit(self, record: dict) -> None:
        self.inner.emit({"recording": self.rid, **record})

    def close(self) -> None:
        self.inner.flush()


def hapt_test_recordings(channels, rate: float, path: str | None = None) -> list:
    """The HAPT recordings of the test subjects (default split), in ``channels`` at ``rate`` Hz."""
    from imuedge.data import HaptWindowsConfig, load_hapt, resample_recording, subject_split

    cfg = HaptWindowsConfig()
    ds = load_hapt(path or cfg.path)
    test = set(subject_split(ds.subjects, cfg.seed, cfg.ratios)["test"])
    out = []
    for r in ds.recordings:
        if r.subject in test:
            r = r.select(tuple(channels))
            if abs(r.sample_rate_hz / rate - 1) > 1e-9:
                r = resample_recording(r, rate)
            out.append(r)
    return out


def _prepare(rec, max_samples: int | None, workdir: Path, pace: float, host_timeout: float):
    """Write the recording as CSV, start its simulator (waiting for the host); returns what it sends."""
    from dataclasses import replace

    from imuedge.data import RecordingsConfig, read_recording_file, write_recording_csv

    from .simulator import expected_stream, start_simulator

    if max_samples is not None and rec.num_samples > max_samples:
        rec = replace(rec, data=rec.data[:, :max_samples], labels=rec.labels[:max_samples])
    csv = write_recording_csv(workdir / f"{rec.recording_id}.csv", rec)
    back = read_recording_file(csv, RecordingsConfig(strict=True)).recording  # what the simulator reads
    sent = expected_stream(back.data, back.channels)  # what the host decodes: int16 counts x float32 scale
    link = workdir / f"tty-{rec.recording_id}"
    proc = start_simulator(csv, link, "--speed", f"{pace:g}", "--linger", "0.3",
                           "--host-timeout", f"{host_timeout:g}")
    return rec, back.channels, sent, link, proc


def _stream_one(predictor, link: Path, proc, sinks, profiler, expect_s: float):
    """Run the runtime on the simulator's pty until the device hangs up after its last packet."""
    from imuedge.firmware_bridge.profiles import decoder_for

    from imuedge.edge_runtime.runner import RunConfig, StreamRunner, check_manifest_against_stream
    from imuedge.edge_runtime.sources import SerialSource, start_command

    runner = StreamRunner(SerialSource(str(link), hello=start_command()), lambda: decoder_for("imuedge"),
                          predictor, sinks, assembler=check_manifest_against_stream(predictor.manifest),
                          config=RunConfig(backpressure="block", backoff=0.05, max_backoff=0.2),
                          profiler=profiler, log=lambda m: None)
    done: list = []
    th = threading.Thread(target=lambda: done.append(runner.run()), name="imuedge-demo-runner", daemon=True)
    th.start()
    try:
        deadline = time.monotonic() + expect_s * 2 + 60
        while proc.poll() is None:
            if not th.is_alive() or time.monotonic() > deadline:  # the runtime failed: the device would block
                proc.kill()
                break
            time.sleep(0.05)
        proc.wait(10)
        deadline = time.monotonic() + 30  # the hang-up after the last packet ends this recording
        while not runner.outages.log and not runner.reader_done.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        runner.stop()
        th.join(120)
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0 and runner.error is None:
        raise RigError(f"device simulator exited with {proc.returncode}: {one_line(err)}")
    return runner


def _compare(live: list[dict], ref: list[dict], rid: str) -> tuple[int, list[dict]]:
    """(windows equal to offline, mismatches): exact on window, start, class and float32 scores."""
    got = {r["start"]: r for r in live}
    want = {r["start"]: r for r in ref}
    equal, bad = 0, []
    for s in sorted(set(got) | set(want)):
        a, b = got.get(s), want.get(s)
        if a is None or b is None:
            bad.append({"recording": rid, "start": s, "problem": "offline only" if a is None else "live only"})
            continue
        same = all(a.get(k) == b.get(k) for k in COMPARED if k != "scores") and \
            np.array_equal(np.asarray(a["scores"], np.float32), np.asarray(b["scores"], np.float32))
        if same:
            equal += 1
        else:
            d = float(np.max(np.abs(np.asarray(a["scores"], np.float64) - np.asarray(b["scores"], np.float64))))
            bad.append({"recording": rid, "start": s, "problem": "different output", "live_class": a.get("class"),
                        "offline_class": b.get("class"), "max_abs_score_diff": d})
    return equal, bad


def _sum_sections(parts: list[dict]) -> dict:
    out: dict = {}
    for p in parts:
        for k, v in p.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            out[k] = out.get(k, 0) + v
    return out


def stream_hapt_test_subjects(bundle: str | Path, out: str | Path, pace: float = 100.0,
                              max_seconds_per_recording: float | None = None, log=print, *,
                              max_recordings: int | None = None, threads: int = 1,
                              hapt_path: str | None = None) -> dict:
    """Stream the HAPT test subjects over a pty into ``bundle``; compare with offline; return a summary.

    ``pace``: x real time (100: the ~78 min of test recordings in ~50 s).
    ``max_seconds_per_recording`` / ``max_recordings``: a shorter run (tests, smoke checks).
    ``log``: progress lines, the profile table and the verdict (``None``: silent).
    """
    from imuedge.bundle import load_bundle

    from imuedge.edge_runtime.offline import offline_predictions
    from imuedge.edge_runtime.profiler import Profiler, table

    say = log or (lambda m: None)
    if not pace or pace <= 0:
        raise ValueError(f"pace must be a positive factor of real time, got {pace!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    predictor = load_bundle(bundle, threads=threads)
    spec = predictor.spec
    rate = spec.sample_rate_hz
    recs = hapt_test_recordings(list(spec.channels), rate, hapt_path)
    if max_recordings is not None:
        recs = recs[:max_recordings]
    if not recs:
        raise ValueError("no HAPT test-subject recordings found")
    max_samples = None if max_seconds_per_recording is None else max(1, int(round(max_seconds_per_recording * rate)))
    total_s = sum(min(r.num_samples, max_samples or r.num_samples) for r in recs) / rate
    subjects = sorted({r.subject for r in recs})
    say(f"[demo] streaming {len(recs)} HAPT test recordings (subjects {subjects}, {total_s:.0f} s of data) over a "
        f"pty at {pace:g}x real time into {predictor.manifest.get('format')}-{predictor.manifest.get('precision')} "
        f"(~{total_s / pace:.0f} s)")

    prof = Profiler()
    jsonl = JsonLinesSink(str(out / "predictions.jsonl"), flush_every=256)
    per_rec, packets, streams, outages, mismatches = [], [], [], [], []
    all_live: dict[str, tuple] = {}
    with tempfile.TemporaryDirectory(prefix="imuedge-demo-") as tmp, ThreadPoolExecutor(1) as pool:
        workdir = Path(tmp)

        def prep(i):
            r = recs[i]
            n = min(r.num_samples, max_samples or r.num_samples)
            wait = sum(min(q.num_samples, max_samples or q.num_samples) for q in recs[max(0, i - 1):i]) / rate / pace
            return pool.submit(_prepare, r, max_samples, workdir, pace, wait + 120), n

        nxt = prep(0)
        try:
            for i in range(len(recs)):
                fut, n = nxt
                rec, channels, sent, link, proc = fut.result()
                nxt = prep(i + 1) if i + 1 < len(recs) else None  # start the next device while this one plays
                live = ListSink()
                runner = _stream_one(predictor, link, proc, [live, _Tagged(jsonl, rec.recording_id)], prof,
                                     n / rate / pace)
                if runner.error is not None:
                    raise RigError(f"{rec.recording_id}: the runtime failed: "
                                       f"{type(runner.error).__name__}: {runner.error}")
                pk, st, ou = runner._packet_report(), runner._stream_report(), runner.outages.report()
                packets.append(pk)
                streams.append(st)
                outages.append(ou)
                all_live[rec.recording_id] = (rec, channels, sent, live.records, pk, st)
                say(f"[demo] {rec.recording_id} (subject {rec.subject}): {n / rate:.1f} s, {pk['received']} packets "
                    f"({pk['lost']} lost, {pk['corrupt']} corrupt), {len(live.records)} windows predicted")
        finally:
            if nxt is not None:  # interrupted or failed: do not leave a device waiting
                try:
                    nxt[0].result()[4].kill()
                except Exception:  # noqa: BLE001
                    pass
            jsonl.close()

    # the profile of the streaming part only (offline work below would inflate CPU)
    rep = prof.report()
    rep["source"] = f"serial:<pty> x {len(recs)} (device simulator, {pace:g}x real time)"
    rep["packets"] = {**_sum_sections(packets), "errors": {}, "last_error": next(
        (p["last_error"] for p in reversed(packets) if p.get("last_error")), None)}
    st = _sum_sections(streams)
    rep["stream"] = {**{k: st.get(k, 0) for k in ("samples_in", "samples_out", "gaps", "gap_samples_interpolated",
                                                  "gap_samples_missing", "grid_resets")},
                     "modes": sorted({s["mode"] for s in streams if s.get("mode")}),
                     "model_rate_hz": rate, "stream_rate_hz": sorted({s["stream_rate_hz"] for s in streams})}
    rep["outages"] = {"count": sum(o["count"] for o in outages),
                      "total_s": round(sum(o["total_s"] for o in outages), 3),
                      "log": [], "note": "each device hangs up after its last packet; that is not counted"}
    stream_wall = rep["wall_s"]

    t_off = time.perf_counter()
    windows = matching = 0
    for rid, (rec, channels, sent, live, pk, st_) in all_live.items():
        ref = offline_predictions(sent, predictor, channels)
        eq, bad = _compare(live, ref, rid)
        windows += len(live)
        matching += eq
        mismatches.extend(bad)
        per_rec.append({"recording": rid, "subject": int(rec.subject), "seconds": round(sent.shape[1] / rate, 2),
                        "samples_sent": int(sent.shape[1]), "samples_received": int(st_["samples_in"]),
                        "windows_streamed": len(live), "windows_offline": len(ref), "windows_exact": eq,
                        "packets_received": pk["received"], "packets_lost": pk["lost"],
                        "packets_corrupt": pk["corrupt"]})
    offline_s = time.perf_counter() - t_off
    windows_offline = sum(r["windows_offline"] for r in per_rec)
    rep["recordings"] = per_rec
    prof.write(out / "profile.json", rep)

    lat = rep["latency"]
    c = rep["counters"]
    pk = rep["packets"]
    ok = (not mismatches and matching == windows == windows_offline and windows > 0
          and pk.get("lost", 0) == 0 and pk.get("corrupt", 0) == 0)
    summary = {
        "ok": ok,
        "bundle": str(bundle), "format": predictor.manifest.get("format"),
        "precision": predictor.manifest.get("precision"),
        "subjects": subjects, "recordings": len(recs), "seconds_of_data": round(total_s, 2), "pace": pace,
        "windows_streamed": windows, "windows_offline": windows_offline, "windows_matching_offline": matching,
        "mismatches": len(mismatches), "first_mismatches": mismatches[:5],
        "windows_dropped": c.get("windows_dropped", 0), "windows_skipped_gap": c.get("windows_skipped_gap", 0),
        "packets": {k: pk.get(k, 0) for k in ("received", "lost", "corrupt", "out_of_order")},
        "latency_ms": {s: {k: v[k] for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms") if k in v}
                       for s, v in lat.items() if v.get("count")},
        "e2e_p50_ms": lat["e2e"].get("p50_ms"), "e2e_p99_ms": lat["e2e"].get("p99_ms"),
        "cpu_s": rep["cpu"]["process_s"], "cpu_utilisation": rep["cpu"]["utilisation"],
        "rss_mb": rep["memory"].get("rss_mb"), "peak_rss_mb": rep["memory"].get("peak_rss_mb"),
        "stream_wall_s": stream_wall, "offline_check_s": round(offline_s, 2),
        "total_s": round(time.perf_counter() - t_start, 2),
        "per_recording": per_rec,
        "files": {"predictions": str(out / "predictions.jsonl"), "profile": str(out / "profile.json"),
                  "summary": str(out / "summary.json")},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    say(table(rep))
    if ok:
        say(f"[demo] OK: {matching}/{windows} windows from {len(recs)} recordings ({total_s:.0f} s of data, "
            f"{pk.get('received', 0)} packets, 0 lost) equal offline predictions exactly; "
            f"e2e p50 {summary['e2e_p50_ms']} ms, p99 {summary['e2e_p99_ms']} ms")
    else:
        say(f"[demo] FAILED: {matching}/{windows} windows equal offline ({windows_offline} offline), "
            f"{len(mismatches)} mismatches, {pk.get('lost', 0)} packets lost, {pk.get('corrupt', 0)} corrupt; "
            f"first: {mismatches[:3]}")
    return summary
