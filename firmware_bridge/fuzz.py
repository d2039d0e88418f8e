"""Long fuzz run of the host decoder: ``python -m imuedge.firmware_bridge.fuzz [N]`` (default 1,000,000).

Inputs are random bytes, valid packets with random mutations (bit flips, truncation,
insertion, fields rewritten with the CRC fixed up), and streams of mixed good/bad frames.
Every input must decode or raise a ProtocolError; in streams every good packet must come out.
Prints the number of inputs run.
"""
from __future__ import annotations

import random
import sys
import time

import numpy as np

from imuedge.firmware_bridge import protocol as P


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


def run(n: int = 1_000_000, seed: int = 0) -> int:
    rng = random.Random(seed)
    count = 0
    while count < n:
        k = rng.randrange(3)
        if k == 0:
            blob = rng.randbytes(rng.randint(0, 64))
        else:
            blob = _mutate(rng, _good(rng, count & 0xFFFF))
        try:
            P.decode_packet(blob)
        except P.ProtocolError:
            pass
        count += 1
        if k == 2:  # bad frame between two good ones: both good ones survive
            a, c = _good(rng, 1), _good(rng, 2)
            dec = P.FrameDecoder()
            got = dec.feed(P.frame(a) + P.cobs_encode(blob) + b"\x00" + P.frame(c))
            assert got and got[0] == P.decode_packet(a) and got[-1] == P.decode_packet(c), "a good packet was lost"
            count += 1
    return count


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    n = int(argv[0]) if argv else 1_000_000
    t = time.perf_counter()
    count = run(n)
    print(f"fuzz: {count} inputs, 0 failures, {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
