"""Decoder throughput: how many packets per second each stream profile decodes on this CPU.

    python -m benchmarks.decoder_bench            # writes benchmarks/results/decoder/decoder_bench.{json,md}

The budget it is checked against: 400 Hz x 6 channels in 10-sample packets is 40 packets/s;
a decoder must keep >= 100x that (4000 packets/s) on one core so that decoding is never what
limits a stream. Each profile decodes the same 2000 ten-sample packets, fed in 4 KiB chunks as a
serial port delivers them (BLE: one packet per feed, as notifications arrive); the median of
``--repeats`` runs is quoted, with pass/fail against the budget.
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


def packets() -> list[bytes]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(PACKETS):
        s = rng.integers(-20000, 20000, (SAMPLES, 6)).astype(np.int16)
        out.append(P.encode_data(P.DataPacket(i % 65536, 1000 + i * 20_000 * SAMPLES, 20_000, 0x3F,
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
            "text (6 values per line)": chunks(text)}


PROFILES = {"imuedge (COBS serial)": "imuedge", "imuedge-ble (one packet per notification)": "imuedge-ble",
            "text (6 values per line)": "text"}


def run(profile: str, feeds: list[bytes]) -> tuple[float, int]:
    dec = decoder_for(profile)
    t0 = time.perf_counter()
    blocks = [b for chunk in feeds for b in dec.feed(chunk)]
    seconds = time.perf_counter() - t0
    return seconds, sum(b.data.shape[1] for b in blocks)


def main(argv=None) -> int:
    from imuedge.machine import RUNTIMES, machine

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7, help="runs per profile (median quoted)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "decoder", help="where the JSON and table go")
    args = ap.parse_args(argv)
    rows = []
    for name, feeds in inputs().items():
        times, samples = [], 0
        for _ in range(args.repeats):
            seconds, samples = run(PROFILES[name], feeds)
            times.append(seconds)
        median = statistics.median(times)
        packets_s = PACKETS / median
        rows.append({"profile": name, "packets": PACKETS, "samples_decoded": samples, "median_s": median,
                     "packets_per_s": packets_s, "samples_per_s": samples / median,
                     "budget_packets_per_s": BUDGET_PACKETS_S, "pass": bool(packets_s >= BUDGET_PACKETS_S and
                                                                            samples == PACKETS * SAMPLES)})
    result = {"machine": machine(RUNTIMES), "repeats": args.repeats, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "decoder_bench.json").write_text(json.dumps(result, indent=2) + "\n")
    md = markdown(result)
    (args.out / "decoder_bench.md").write_text(md)
    print(md)
    return 0 if all(r["pass"] for r in rows) else 1


def markdown(r: dict) -> str:
    m = r["machine"]
    out = ["# Decoder throughput", "",
           f"Machine: {describe(m)}. {PACKETS} packets of {SAMPLES} six-channel "
           f"samples per run, median of {r['repeats']} runs, one core. Budget: {BUDGET_PACKETS_S:,.0f} packets/s "
           "(100x the 40 packets/s of a 400 Hz x 6 channel stream).", "",
           "| profile | packets/s | samples/s | pass |", "|---|---:|---:|---|"]
    for x in r["rows"]:
        out.append(f"| {x['profile']} | {x['packets_per_s']:,.0f} | {x['samples_per_s']:,.0f} | "
                   f"{'PASS' if x['pass'] else 'FAIL'} |")
    return "\n".join(out + [""])


if __name__ == "__main__":
    sys.exit(main())
