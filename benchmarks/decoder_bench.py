"""Decoder throughput: how many packets per second each stream profile decodes on this CPU; with
``--baseline COMMIT``, the imuedge decoders of that commit beside today's, in the same run.

    python -m benchmarks.decoder_bench            # writes benchmarks/results/decoder/decoder_bench.{json,md}
    python -m benchmarks.decoder_bench --baseline 8ef3289 --stream BUNDLE

The budget it is checked against: 400 Hz x 6 channels in 10-sample packets is 40 packets/s;
a decoder must keep >= 100x that (4000 packets/s) on one core so that decoding is never what
limits a stream. Each profile decodes the same 2000 ten-sample packets, fed in 4 KiB chunks as a
serial port delivers them (BLE: one packet per feed, as notifications arrive); the median of
``--repeats`` runs is quoted, with pass/fail against the budget. One more input is a live stream's
shape: 2000 two-sample frames (100 Hz, 20 ms each), one frame per feed, as each read returns one.

``--baseline COMMIT``: ``protocol.py`` and ``profiles/imuedge_packets.py`` as they were at COMMIT
(``git show``) decode the same inputs, each repeat running the baseline then today's code; the table
gives both and today's speed over the baseline's.

``--stream BUNDLE`` (with ``--baseline``): where a decoder's cost shows, in a live stream. The device
simulator writes a HAPT test recording at 100 Hz to a pty and the runtime streams it into BUNDLE
(``benchmarks.stream_bench.pty_run``, hop 2), ``--stream-runs`` times with each decoder, alternating.
After an idle gap a VM's caches are cold, so a packet costs far more here than in the loop above; the
table gives, per decoder, the medians over the runs of the decode stage's p50 and of e2e minus the
in-stream predict stage (the runtime's own part of a window's latency), p50 and p99.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from imuedge.firmware_bridge import protocol as P
from imuedge.firmware_bridge.profiles import decoder_for
from imuedge.machine import describe

HERE = Path(__file__).resolve().parent
BUDGET_PACKETS_S = 4000.0  # 100 x (400 Hz x 6 channels in 10-sample packets = 40 packets/s)
PACKETS, SAMPLES = 2000, 10
LIVE_SAMPLES = 2  # a 100 Hz stream's 20 ms frames


def packets(samples: int = SAMPLES) -> list[bytes]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(PACKETS):
        s = rng.integers(-20000, 20000, (samples, 6)).astype(np.int16)
        out.append(P.encode_data(P.DataPacket(i % 65536, 1000 + i * 20_000 * samples, 20_000, 0x3F,
                                              8 * 9.80665 / 32768, 2000 * np.pi / 180 / 32768, s)))
    return out


def inputs() -> dict[str, list[bytes]]:
    """What each profile is fed: byte chunks (serial) or one packet per feed (BLE)."""
    raw = packets()
    serial = b"".join(P.frame(p) for p in raw)
    rng = np.random.default_rng(1)
    lines = "".join(",".join(f"{v:.4f}" for v in rng.normal(0, 3, 6)) + "\n" for _ in range(PACKETS * SAMPLES))
    text = lines.encode()
    chunks = lambda b: [b[i:i + 4096] for i in range(0, len(b), 4096)]  # noqa: E731
    return {"imuedge (COBS serial)": chunks(serial), "imuedge-ble (one packet per notification)": raw,
            "text (6 values per line)": chunks(text),
            "imuedge (COBS serial), one 2-sample frame per feed": [P.frame(p) for p in packets(LIVE_SAMPLES)]}


PROFILES = {"imuedge (COBS serial)": "imuedge", "imuedge-ble (one packet per notification)": "imuedge-ble",
            "text (6 values per line)": "text", "imuedge (COBS serial), one 2-sample frame per feed": "imuedge"}


def expected_samples(name: str) -> int:
    """How many samples the input ``name`` of ``inputs()`` holds."""
    return PACKETS * (LIVE_SAMPLES if "2-sample" in name else SAMPLES)


def baseline_decoders(commit: str) -> dict:
    """The imuedge profiles' decoder classes as they were at ``commit``, on that commit's ``protocol.py``."""
    from benchmarks.baseline import module_at

    protocol = module_at("firmware_bridge/protocol.py", commit)
    profile = module_at("firmware_bridge/profiles/imuedge_packets.py", commit,
                        package="imuedge.firmware_bridge.profiles")
    profile.P = protocol  # its functions look P up when called: the commit's codec, not today's
    return {"imuedge": profile.ImuedgeSerialDecoder, "imuedge-ble": profile.ImuedgeBLEDecoder}


def run(make_decoder, feeds: list[bytes]) -> tuple[float, int]:
    dec = make_decoder()
    t0 = time.perf_counter()
    blocks = [b for chunk in feeds for b in dec.feed(chunk)]
    seconds = time.perf_counter() - t0
    return seconds, sum(b.data.shape[1] for b in blocks)


def row(name: str, code: str, times: list[float], samples: int, expected: int) -> dict:
    median = statistics.median(times)
    packets_s = PACKETS / median
    return {"profile": name, "code": code, "packets": PACKETS, "samples_decoded": samples, "median_s": median,
            "packets_per_s": packets_s, "samples_per_s": samples / median, "budget_packets_per_s": BUDGET_PACKETS_S,
            "pass": bool(packets_s >= BUDGET_PACKETS_S and samples == expected)}


def throughput(repeats: int, baseline: dict, commit: str | None) -> list[dict]:
    rows = []
    for name, feeds in inputs().items():
        profile = PROFILES[name]
        expected = expected_samples(name)
        codes = {"today": lambda: decoder_for(profile)}
        if profile in baseline:
            codes = {f"baseline {commit}": baseline[profile], **codes}
        times = {code: [] for code in codes}
        samples = {}
        for _ in range(repeats):
            for code, make in codes.items():
                seconds, samples[code] = run(make, feeds)
                times[code].append(seconds)
        rows += [row(name, code, times[code], samples[code], expected) for code in codes]
        if len(codes) == 2:
            rows[-1]["speedup_vs_baseline"] = rows[-2]["median_s"] / rows[-1]["median_s"]
    return rows


def in_stream(bundle: Path, runs: int, baseline: dict, commit: str, seconds: float, work: Path) -> list[dict]:
    """The runtime's own part of e2e with each decoder, alternating runs (``stream_bench.alternating``)."""
    from benchmarks.stream_bench import alternating, recording_csv
    from imuedge.bundle import load_bundle

    work.mkdir(parents=True, exist_ok=True)
    csv, _ = recording_csv(work)
    variants = {f"baseline {commit}": {"decoder": baseline["imuedge"]},
                "today": {"decoder": lambda: decoder_for("imuedge")}}
    return [{"bundle": str(bundle), **row}
            for row in alternating(load_bundle(bundle, threads=1), csv, variants, runs, seconds, work)]


def main(argv=None) -> int:
    from imuedge.machine import RUNTIMES, machine

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7, help="runs per profile (median quoted)")
    ap.add_argument("--baseline", help="a commit whose imuedge decoders run beside today's")
    ap.add_argument("--stream", type=Path, help="with --baseline: a bundle to stream at 100 Hz with each decoder")
    ap.add_argument("--stream-runs", type=int, default=5, help="pty runs per decoder (alternating)")
    ap.add_argument("--stream-seconds", type=float, default=20.0, help="seconds per pty run")
    ap.add_argument("--work", type=Path, default=Path("/tmp/imuedge_decoder_bench"), help="scratch folder")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "decoder", help="where the JSON and table go")
    args = ap.parse_args(argv)
    if args.stream and not args.baseline:
        ap.error("--stream compares two decoders: give --baseline COMMIT too")
    baseline = baseline_decoders(args.baseline) if args.baseline else {}
    rows = throughput(args.repeats, baseline, args.baseline)
    result = {"machine": machine(RUNTIMES), "repeats": args.repeats, "baseline": args.baseline, "rows": rows}
    if args.stream:
        result["stream"] = in_stream(args.stream, args.stream_runs, baseline, args.baseline, args.stream_seconds,
                                     args.work)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "decoder_bench.json").write_text(json.dumps(result, indent=2) + "\n")
    md = markdown(result)
    (args.out / "decoder_bench.md").write_text(md)
    print(md)
    return 0 if all(r["pass"] for r in rows if r["code"] == "today") else 1


def markdown(r: dict) -> str:
    m = r["machine"]
    out = ["# Decoder throughput", "",
           f"Machine: {describe(m)}. {PACKETS} packets of {SAMPLES} six-channel "
           f"samples per run (the last input: {LIVE_SAMPLES}), median of {r['repeats']} runs, one core. Budget: "
           f"{BUDGET_PACKETS_S:,.0f} packets/s (100x the 40 packets/s of a 400 Hz x 6 channel stream).", "",
           "| profile | code | packets/s | samples/s | today / baseline | pass |", "|---|---|---:|---:|---:|---|"]
    for x in r["rows"]:
        ratio = f"{x['speedup_vs_baseline']:.2f}x" if "speedup_vs_baseline" in x else "–"
        out.append(f"| {x['profile']} | {x['code']} | {x['packets_per_s']:,.0f} | {x['samples_per_s']:,.0f} | "
                   f"{ratio} | {'PASS' if x['pass'] else 'FAIL'} |")
    if r.get("stream"):
        from benchmarks.stream_bench import alternating_markdown

        out += alternating_markdown(f"In a live stream: 100 Hz over a pty into `{r['stream'][0]['bundle']}` "
                                    "(hop 2), one variant per decoder", r["stream"])
    return "\n".join(out + [""])


if __name__ == "__main__":
    sys.exit(main())
