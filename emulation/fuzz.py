"""Fuzzing and corruption injection for the host decoders.

    python -m imuedge.emulation.fuzz [N]        # N inputs (default 1,000,000) + the pty injection
    python -m imuedge.emulation.fuzz --pty      # only the live pty corruption injection
    python -m imuedge.emulation.fuzz N --out F  # report path (default benchmarks/results/fuzz.json)

Fuzz inputs are random bytes, valid packets with random mutations (bit flips, truncation,
insertion, fields rewritten with the CRC fixed up), streams of mixed good/bad frames, and
random/mutated byte streams through every stream profile (firmware_bridge/profiles/). Every input must
decode or raise a ProtocolError (profiles: never raise); in streams every good packet must
come out. A "crash" is any other exception (numeric RuntimeWarnings included) or a lost
good packet, or a block holding NaN/inf; a "hang" is one input
that takes more than HANG_S seconds. The report (JSON) has inputs, crashes, hangs, peak
RSS, seconds and the machine.

The pty injection (``pty_injection``) writes good frames into one end of an
``os.openpty()`` pair, with one instance of every corruption class of
``firmware_bridge/vectors/packets_invalid.json`` (and line-noise classes: oversize junk, garbage glued
to a frame without a delimiter, a delimited noise burst) between them, and reads the
other end with pyserial through the ``imuedge`` stream profile; it checks the error count
per class and that every good sample arrived, in order, with no gap reported.
"""
from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np

from imuedge.emulation import RigError
from imuedge.firmware_bridge import protocol as P
from imuedge.machine import machine, peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
VECTORS = Path(P.__file__).resolve().parent / "vectors"
HANG_S = 1.0
DEFAULT_OUT = (ROOT if (ROOT / "benchmarks").is_dir() else Path.cwd()) / "benchmarks" / "results" / "fuzz.json"


def _good(rng: random.Random, seq: int) -> bytes:
    mask = rng.randint(1, 63)
    nch = bin(mask).count("1")
    n = rng.randint(1, 12)
    s = np.frombuffer(rng.randbytes(2 * n * nch), dtype="<i2").reshape(n, nch)
    return P.encode_data(P.DataPacket(seq, rng.getrandbits(32), 20_000, mask, 0.01, 0.001, s))


def _mutate(rng: random.Random, b: bytes) -> bytes:
    b = bytearray(b)
    k = rng.randrange(5)
    if k == 0:
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif k == 1:
        b = b[:rng.randrange(len(b))]
    elif k == 2:
        i = rng.randrange(len(b) + 1)
        b[i:i] = rng.randbytes(rng.randint(1, 8))
    else:  # rewrite a header byte and fix the CRC so deeper checks run
        i = rng.randrange(2, min(len(b) - 2, P.DATA_HEADER_LEN))
        b[i] = rng.randrange(256)
        c = P.crc16(bytes(b[:-2]))
        b[-2:] = bytes([c & 0xFF, c >> 8])
    return bytes(b)


def _profile_input(rng: random.Random, profile: str) -> bytes:
    """A plausible-then-damaged input for a stream profile."""
    if profile in ("text",):
        lines = [",".join(f"{rng.uniform(-20, 20):.3f}" for _ in range(rng.choice((3, 6, 7)))) for _ in range(4)]
        blob = ("\n".join(lines) + "\n").encode()
    elif profile == "sensorserver":
        kind = rng.choice(("accelerometer", "gyroscope", "light"))
        blob = json.dumps({"type": f"android.sensor.{kind}", "timestamp": rng.getrandbits(40),
                           "values": [rng.uniform(-10, 10) for _ in range(3)]}).encode() + b"\n"
    elif profile.startswith("witmotion"):
        body = bytes([0x55, 0x61 if profile.endswith("ble") else rng.choice((0x51, 0x52, 0x53))])
        body += rng.randbytes(18 if profile.endswith("ble") else 8)
        blob = body if profile.endswith("ble") else body + bytes([sum(body) & 0xFF])
    elif profile == "imuedge-ble":
        blob = _good(rng, rng.getrandbits(16))
    else:
        blob = P.frame(_good(rng, rng.getrandbits(16)))
    k = rng.randrange(4)
    if k == 0:
        return rng.randbytes(rng.randint(0, 64))
    if k == 1 or not blob:
        return blob
    return _mutate(rng, blob) if len(blob) > P.DATA_HEADER_LEN + 2 else blob[:rng.randrange(len(blob))]


def run_report(n: int = 1_000_000, seed: int = 0, profiles_share: float = 0.1) -> dict:
    """Fuzz ``n`` inputs; returns {"inputs", "crashes", "hangs", "by_target", "first_crash", ...}.
    Numeric warnings (overflow, invalid value) count as crashes: a decoder must not emit inf/NaN."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return _run_report(n, seed, profiles_share)


def _run_report(n: int, seed: int, profiles_share: float) -> dict:
    from imuedge.firmware_bridge.profiles import PROFILES, decoder_for

    rng = random.Random(seed)
    count = crashes = hangs = 0
    by_target: Counter = Counter()
    first_crash = None
    slowest = 0.0
    names = sorted(PROFILES)
    decoders = {name: decoder_for(name) for name in names}
    n_profiles = int(n * profiles_share)
    t_all = time.perf_counter()
    while count < n:
        t0 = time.perf_counter()
        try:
            if count < n - n_profiles:
                k = rng.randrange(3)
                blob = rng.randbytes(rng.randint(0, 64)) if k == 0 else _mutate(rng, _good(rng, count & 0xFFFF))
                target = "decode_packet"
                try:
                    P.decode_packet(blob)
                except P.ProtocolError:
                    pass
                if k == 2:  # bad frame between two good ones: both good ones survive
                    count += 1
                    by_target["decode_packet"] += 1
                    target = "FrameDecoder"
                    a, c = _good(rng, 1), _good(rng, 2)
                    got = P.FrameDecoder().feed(P.frame(a) + P.cobs_encode(blob) + b"\x00" + P.frame(c))
                    if not (got and got[0] == P.decode_packet(a) and got[-1] == P.decode_packet(c)):
                        raise AssertionError("a good packet was lost")
            else:
                target = names[count % len(names)]
                dec = decoders[target]
                if count % 5000 < len(names):  # fresh decoders now and then (state is part of the input)
                    dec = decoders[target] = decoder_for(target)
                blocks = dec.feed(_profile_input(rng, target))
                for b in blocks:
                    if b.data.dtype != np.float32 or b.data.shape[0] != len(b.channels):
                        raise AssertionError(f"{target}: bad block {b.data.dtype} {b.data.shape}")
                    if not np.isfinite(b.data).all():
                        raise AssertionError(f"{target}: non-finite sample in a block")
        except Exception as e:  # noqa: BLE001 -- counting is the point
            crashes += 1
            if first_crash is None:
                first_crash = {"input": count, "target": target, "error": repr(e),
                               "traceback": traceback.format_exc(limit=4)}
        dt = time.perf_counter() - t0
        slowest = max(slowest, dt)
        hangs += dt > HANG_S
        by_target[target] += 1
        count += 1
    return {"inputs": count, "crashes": crashes, "hangs": hangs, "hang_threshold_s": HANG_S,
            "slowest_input_s": round(slowest, 6), "seed": seed, "by_target": dict(sorted(by_target.items())),
            "first_crash": first_crash, "seconds": round(time.perf_counter() - t_all, 2)}


class FuzzCrash(RigError):
    """A fuzzed input made a decoder raise instead of counting the input as bad."""


def run(n: int = 1_000_000, seed: int = 0) -> int:
    """Fuzz ``n`` inputs; raises FuzzCrash on any crash; returns the count."""
    r = run_report(n, seed)
    if r["crashes"]:
        raise FuzzCrash(f"{r['crashes']} of {r['inputs']} inputs crashed a decoder; first: {r['first_crash']}")
    return r["inputs"]


# --------------------------------------------------------------------------- live pty injection
def corruption_pieces() -> list[tuple[str, bytes, Counter]]:
    """(name, bytes to inject, expected FrameDecoder error classes) for every corruption class."""
    vec = json.loads((VECTORS / "packets_invalid.json").read_text())["vectors"]
    out = []
    for v in vec:
        piece = P.frame(bytes.fromhex(v["hex"])) if "hex" in v else bytes.fromhex(v["frame_hex"]) + b"\x00"
        out.append((v["name"], piece, Counter({v["error"]: 1})))
    out.append(("oversize_junk", b"\x05" * (P._max_frame_len() + 50) + b"\x00", Counter({"OversizeError": 1})))
    # line noise with no delimiter before the next good frame: the good frame is still recovered
    out.append(("garbage_glued_to_next_frame", b"\x13\x37\xfe", None))
    out.append(("noise_burst_delimited", bytes([0x13, 0x37, 0xFF, 0xFE, 0x02, 0x49]) + b"\x00", None))
    return out  # None: the class depends on the bytes around it (see _classes_in_context)


def _classes_in_context(piece: bytes, next_frame: bytes) -> Counter:
    """What a fresh decoder reports for line noise followed by the next good frame."""
    d = P.FrameDecoder()
    d.feed(piece + next_frame)
    return Counter(d.errors)


def _good_stream(rng: random.Random, n_good: int):
    pkts = []
    for seq in range(n_good):
        n = rng.randint(1, 20)
        s = np.frombuffer(rng.randbytes(12 * n), dtype="<i2").reshape(n, 6)
        pkts.append(P.DataPacket(seq, 1000 + seq * 20_000 * 20, 20_000, 0x3F, 0.01, 0.001, s))
    return pkts


def pty_injection(rounds: int = 3, seed: int = 0, timeout_s: float = 60.0) -> dict:
    """Writer thread -> os.openpty() -> pyserial reader -> ``imuedge`` profile. Returns a report;
    ``ok`` is True when every class was counted as expected and every good sample arrived."""
    import tty

    import serial

    from imuedge.firmware_bridge.profiles import decoder_for

    rng = random.Random(seed)
    pieces = corruption_pieces()
    layout = [pieces[i % len(pieces)] for i in range(rounds * len(pieces))]
    rng.shuffle(layout)
    good = _good_stream(rng, len(layout) + 1)
    stream = bytearray()
    expected = Counter()
    for p, nxt, (_, piece, exp) in zip(good, good[1:], layout):
        stream += P.frame(P.encode_data(p)) + piece
        expected += exp if exp is not None else _classes_in_context(piece, P.frame(P.encode_data(nxt)))
    stream += P.frame(P.encode_data(good[-1]))
    stream += b"\x00"

    master, slave = os.openpty()
    tty.setraw(slave)
    port = serial.Serial(os.ttyname(slave), 115200, timeout=0.05)
    writer_error: list[BaseException] = []

    def write():
        try:
            w = random.Random(seed + 1)
            i = 0
            while i < len(stream):  # random write sizes: frames split across reads
                k = w.randint(1, 300)
                i += os.write(master, bytes(stream[i:i + k]))
        except BaseException as e:  # noqa: BLE001
            writer_error.append(e)

    dec = decoder_for("imuedge")
    blocks = []
    t = threading.Thread(target=write, daemon=True)
    t0 = time.perf_counter()
    t.start()
    try:
        deadline = time.monotonic() + timeout_s  # a guard against a deadlock, not a timing check
        while time.monotonic() < deadline:
            blocks += dec.feed(port.read(4096))
            if blocks and blocks[-1].seq == good[-1].seq or writer_error:
                break
        t.join(timeout=5)
    finally:
        port.close()
        os.close(master)
        os.close(slave)
    got_seqs = [b.seq for b in blocks]
    want = np.concatenate([p.to_array() for p in good], axis=1)
    have = np.concatenate([b.data for b in blocks], axis=1) if blocks else np.zeros((6, 0), np.float32)
    samples_ok = have.shape == want.shape and np.array_equal(have, want)
    errors = Counter(dec.stats["errors"])
    report = {
        "bytes": len(stream), "good_packets": len(good), "good_samples": int(want.shape[1]),
        "received_packets": len(blocks), "received_samples": int(have.shape[1]),
        "seqs_in_order": got_seqs == list(range(len(good))), "samples_identical": bool(samples_ok),
        "lost_reported": dec.stats["lost"], "corrupt": dec.stats["corrupt"],
        "expected_corrupt": sum(expected.values()),
        "errors_by_class": dict(sorted(errors.items())), "expected_by_class": dict(sorted(expected.items())),
        "classes_injected": sorted({name for name, _, _ in layout}), "rounds": rounds,
        "writer_error": repr(writer_error[0]) if writer_error else None,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    report["ok"] = bool(samples_ok and report["seqs_in_order"] and errors == expected and not dec.stats["lost"]
                        and not writer_error)
    return report


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m imuedge.emulation.fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=1_000_000, help="fuzz inputs (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pty", action="store_true", help="only the live pty corruption injection (no fuzz)")
    ap.add_argument("--no-pty", action="store_true", help="skip the pty injection")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON report (default {DEFAULT_OUT})")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    ok = True
    report: dict = {"command": "python -m imuedge.emulation.fuzz " + " ".join(sys.argv[1:] if argv is None
                                                                                   else argv)}
    if not args.pty:
        r = run_report(args.n, args.seed)
        report["fuzz"] = r
        print(f"fuzz: {r['inputs']} inputs, {r['crashes']} crashes, {r['hangs']} hangs (> {HANG_S} s), "
              f"{r['seconds']} s")
        ok &= r["crashes"] == 0 and r["hangs"] == 0
        if r["first_crash"]:
            print(r["first_crash"]["traceback"], file=sys.stderr)
    if not args.no_pty:
        try:
            p = pty_injection(seed=args.seed)
        except ImportError as e:
            print(f"pty injection skipped: {e}")
        else:
            report["pty_injection"] = p
            print(f"pty injection: {p['good_samples']} good samples sent, {p['received_samples']} received "
                  f"({'identical' if p['samples_identical'] else 'DIFFERENT'}); corrupt frames {p['corrupt']} "
                  f"(expected {p['expected_corrupt']}): {p['errors_by_class']}; {'OK' if p['ok'] else 'FAILED'}")
            ok &= p["ok"]
    report["peak_rss_mb"] = round(peak_rss_mb(), 1)
    report["machine"] = machine(("numpy",))
    report["ok"] = bool(ok)
    if not args.pty:  # the benchmark/report output records the full run
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"report: {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
