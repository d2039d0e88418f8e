"""Serial framing under corruption: counted and skipped, never losing a good packet; fuzzed."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imuedge.firmware_bridge import protocol as P


def pkt(seq, n=4):
    s = (np.arange(n * 6, dtype=np.int16).reshape(n, 6) * (seq + 1)).astype(np.int16)
    return P.encode_data(P.DataPacket(seq, seq * 1000, 1000, 0x3F, 0.01, 0.001, s))


def test_bad_frame_between_good_ones_is_counted_and_skipped():
    bad = bytearray(P.frame(pkt(1)))
    bad[15] = bad[15] ^ 0x10 or 0x33
    stream = P.frame(pkt(0)) + bytes(bad) + P.frame(pkt(2))
    dec = P.FrameDecoder()
    assert [p.seq for p in dec.feed(stream)] == [0, 2]
    assert dec.corrupt == 1 and dec.packets == 2
    g = P.GapTracker()
    assert [g.update(p) for p in (0, 2)] == [0, 1]  # the lost one is reported as a gap


def test_oversize_frame_resyncs():
    dec = P.FrameDecoder(max_frame_len=100)
    got = dec.feed(b"\x05" * 500 + b"\x00" + P.frame(pkt(7)))
    assert [p.seq for p in got] == [7] and dec.errors["OversizeError"] == 1


@st.composite
def noisy_stream(draw):
    """Good frames interleaved with arbitrary junk that is closed by a delimiter."""
    n = draw(st.integers(1, 6))
    parts, seqs = [], []
    for i in range(n):
        if draw(st.booleans()):
            parts.append(draw(st.binary(min_size=1, max_size=40)) + b"\x00")
        parts.append(P.frame(pkt(i, n=draw(st.integers(1, 5)))))
        seqs.append(i)
    return b"".join(parts), seqs


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(noisy_stream(), st.integers(1, 64))
def test_fuzz_no_good_packet_lost(stream_seqs, chunk):
    stream, seqs = stream_seqs
    dec = P.FrameDecoder()
    got = [p for i in range(0, len(stream), chunk) for p in dec.feed(stream[i:i + chunk])]
    # junk can (very rarely) itself be a valid frame; every good packet must still be there, in order
    good = [p.seq for p in got if p.type == P.PacketType.DATA and p.timestamp_us == p.seq * 1000]
    assert good == seqs


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_decode_packet_raises_only_protocol_errors(b):
    try:
        P.decode_packet(b)
    except P.ProtocolError:
        pass


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_frame_decoder_never_crashes(b):
    dec = P.FrameDecoder()
    dec.feed(b)
    dec.feed(P.frame(pkt(1)))  # and it is usable afterwards
    assert dec.packets >= 1


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_cobs_round_trip(b):
    e = P.cobs_encode(b)
    assert 0 not in e and P.cobs_decode(e) == b


def cobs_well_formed(b: bytes) -> bool:
    """COBS framing rules on their own: no 0x00, and the chain of code bytes (each the offset of the next)
    ends exactly at the end of the frame."""
    i = 0
    while i < len(b) and b[i]:
        i += b[i]
    return 0 not in b and i == len(b)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from([0, 1, 2, 3, 5, 0x49, 0xFE, 0xFF]), max_size=40))
def test_fuzz_cobs_decode_of_any_bytes_is_the_inverse_or_a_cobs_error(codes):
    """Byte soup rich in code-like values: cobs_decode (a short path for the usual frame, the general loop for
    the rest) decodes exactly the well-formed frames, to the bytes whose encoding they are, and names every
    other one as a COBSError."""
    b = bytes(codes)
    if not cobs_well_formed(b):
        with pytest.raises(P.COBSError):
            P.cobs_decode(b)
        return
    raw = P.cobs_decode(b)
    assert P.cobs_encode(raw) in (b, b + b"\x01")  # a 254-byte run may end the frame without its final 0x01


@settings(max_examples=500, deadline=None)
@given(st.binary(min_size=12, max_size=80), st.integers(0, 0xFFFF))
def test_fuzz_valid_crc_random_body(body, seq):
    """Random bodies with magic + major 1 + a correct CRC: decoded or a ProtocolError, nothing else."""
    b = b"IE\x01" + body[3:]
    b += bytes([P.crc16(b) & 0xFF, P.crc16(b) >> 8])
    try:
        P.decode_packet(b)
    except P.ProtocolError:
        pass
