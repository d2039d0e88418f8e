"""Regenerate the shared test vectors in ``firmware_bridge/vectors/*.json``.

    python -m imuedge.emulation.make_vectors          # rewrite the files
    python -m imuedge.emulation.make_vectors --check  # exit 1 if they are stale

The Python tests (tests/firmware_bridge/test_vectors.py) and the C host tests
(firmware_bridge/firmware/tests, via its vectors_to_c.py) read these same files.
Packets are built with ``firmware_bridge/protocol.py`` where they are valid, and byte by byte
(``raw()`` below, CRC recomputed) where a vector must break one rule only.

Files (each a JSON object ``{"protocol": "1.0", "vectors": [...]}``):

* ``packets_valid.json``   ``hex`` packet, ``frame_hex`` its COBS frame, ``expect`` decoded fields
* ``packets_invalid.json`` ``hex`` packet (or ``frame_hex``), ``error`` ProtocolError subclass name
* ``cobs.json``            ``raw_hex`` <-> ``cobs_hex``; invalid ones carry ``error``
* ``sequences.json``       ``seqs`` -> per-packet ``gaps``, total ``lost``, ``out_of_order``
* ``streams.json``         ``stream_hex`` byte stream -> ``seqs`` of good packets, ``corrupt`` count
"""
from __future__ import annotations

import argparse
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np

from imuedge.firmware_bridge import protocol as P

OUT = Path(P.__file__).resolve().parent / "vectors"
ACC_SCALE = 8 * 9.80665 / 32768  # ±8 g full scale, m/s^2 per count
GYRO_SCALE = 2000 * math.pi / 180 / 32768  # ±2000 dps full scale, rad/s per count


def f32_bits(x: float) -> str:
    return struct.pack("<f", x)[::-1].hex()  # big-endian hex of the float32 bits, e.g. "3ba0e7a6"


def samples(n: int, nch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = rng.integers(-32768, 32768, size=(n, nch), dtype=np.int64)
    s.flat[0] = 0  # a zero byte pair for COBS
    if s.size > 2:
        s.flat[1], s.flat[2] = -32768, 32767
    return s.astype(np.int16)


def expect(p) -> dict:
    d = {"type": p.type.name, "seq": p.seq, "version": list(p.version)}
    if isinstance(p, P.DataPacket):
        d.update(timestamp_us=p.timestamp_us, sample_period_us=p.sample_period_us, channel_mask=p.channel_mask,
                 channels=list(p.channels), acc_scale=float(np.float32(p.acc_scale)), acc_scale_bits=f32_bits(p.acc_scale),
                 gyro_scale=float(np.float32(p.gyro_scale)), gyro_scale_bits=f32_bits(p.gyro_scale), flags=int(p.flags),
                 overflow_count=p.overflow_count, n_samples=p.n_samples, samples=p.samples.tolist())
    elif isinstance(p, P.CommandPacket):
        d.update(command=P.Command(p.command).name, rate_hz=p.rate_hz, acc_range_g=p.acc_range_g,
                 gyro_range_dps=p.gyro_range_dps, channel_mask=p.channel_mask)
    elif isinstance(p, P.AckPacket):
        d.update(acked_seq=p.acked_seq, command=p.command, status=P.AckStatus(p.status).name, value=p.value)
    else:
        d.update(supported_mask=p.supported_mask, active_mask=p.active_mask, acc_range_g=p.acc_range_g,
                 gyro_range_dps=p.gyro_range_dps, streaming=p.streaming, sample_period_us=p.sample_period_us,
                 acc_scale_bits=f32_bits(p.acc_scale), gyro_scale_bits=f32_bits(p.gyro_scale),
                 max_samples_per_packet=p.max_samples_per_packet, name=p.name)
    return d


def raw(ptype, seq, ext=b"", payload=b"", *, major=1, minor=0, header_len=None, payload_len=None, magic=b"IE",
        crc=None, cut=None) -> bytes:
    """A packet built field by field; any field may lie. CRC is correct unless ``crc`` is given."""
    hl = P.COMMON_HEADER_LEN + len(ext) if header_len is None else header_len
    pl = len(payload) if payload_len is None else payload_len
    body = magic + bytes([major, minor, ptype, hl]) + struct.pack("<HH", seq, pl) + ext + payload
    if cut is not None:
        body = body[:cut]
    return body + struct.pack("<H", P.crc16(body) if crc is None else crc)


def data_ext(ts, period, n, mask, flags=0, overflow=0, acc=ACC_SCALE, gyro=GYRO_SCALE) -> bytes:
    return struct.pack("<IIffHBBBB", ts, period, acc, gyro, overflow, n, mask, flags, 0)


def valid_vectors() -> list[dict]:
    D = P.DataPacket
    pk = [
        ("data_1_sample_6ch", "one sample, all six channels",
         D(0, 1_000_000, 20_000, 0x3F, ACC_SCALE, GYRO_SCALE, samples(1, 6, 1))),
        ("data_10_samples_6ch", "a batch of 10 samples at 50 Hz, all channels",
         D(1, 1_020_000, 20_000, 0x3F, ACC_SCALE, GYRO_SCALE, samples(10, 6, 2))),
        ("data_acc_only", "accelerometer only (mask 0x07), 5 samples at 100 Hz",
         D(2, 4_000_000_000, 10_000, 0x07, ACC_SCALE, GYRO_SCALE, samples(5, 3, 3))),
        ("data_gyro_z_only", "one channel (gyro_z, mask 0x20), 4 samples",
         D(3, 77, 2_500, 0x20, ACC_SCALE, GYRO_SCALE, samples(4, 1, 4))),
        ("data_acc_x_gyro_y", "non-contiguous subset acc_x + gyro_y (mask 0x11)",
         D(4, 5, 20_000, 0x11, ACC_SCALE, GYRO_SCALE, samples(3, 2, 5))),
        ("data_overflow_reported", "ring buffer overflowed: 37 samples dropped before this packet",
         D(5, 123_456, 20_000, 0x3F, ACC_SCALE, GYRO_SCALE, samples(2, 6, 6),
           flags=P.DataFlags.OVERFLOW, overflow_count=37)),
        ("data_started_clipped", "first packet after START, with a clipped sample",
         D(6, 0, 1_000, 0x3F, ACC_SCALE, GYRO_SCALE, samples(1, 6, 7), flags=P.DataFlags.STARTED | P.DataFlags.CLIPPED)),
        ("data_seq_65535_ts_wrap", "sequence 65535 and timestamp near the u32 wrap",
         D(65535, 0xFFFFFF00, 20_000, 0x3F, ACC_SCALE, GYRO_SCALE, samples(2, 6, 8))),
        ("data_max_samples", "255 samples of 6 channels (largest data packet, 3094 bytes)",
         D(9, 42, 2_500, 0x3F, ACC_SCALE, GYRO_SCALE, samples(255, 6, 9))),
        ("data_unit_scale", "scale 1.0 (counts are the physical value), zeros payload",
         D(10, 0, 20_000, 0x09, 1.0, 1.0, np.zeros((3, 2), np.int16))),
        ("cmd_start", "START", P.CommandPacket(100, P.Command.START)),
        ("cmd_stop", "STOP", P.CommandPacket(101, P.Command.STOP)),
        ("cmd_set_rate_100", "SET_RATE 100 Hz", P.CommandPacket(102, P.Command.SET_RATE, rate_hz=100)),
        ("cmd_set_ranges", "SET_RANGES ±4 g, ±500 dps",
         P.CommandPacket(103, P.Command.SET_RANGES, acc_range_g=4, gyro_range_dps=500)),
        ("cmd_get_info", "GET_INFO", P.CommandPacket(104, P.Command.GET_INFO)),
        ("cmd_set_channels", "SET_CHANNELS acc only", P.CommandPacket(105, P.Command.SET_CHANNELS, channel_mask=0x07)),
        ("ack_set_rate_ok", "ACK of SET_RATE: OK, actual period 10000 µs",
         P.AckPacket(7, 102, P.Command.SET_RATE, P.AckStatus.OK, 10_000)),
        ("ack_unsupported", "ACK of SET_RANGES: UNSUPPORTED", P.AckPacket(8, 103, P.Command.SET_RANGES,
                                                                       P.AckStatus.UNSUPPORTED, 0)),
        ("ack_bad_packet", "ACK with BAD_PACKET (command frame failed its CRC)",
         P.AckPacket(9, 0, 0, P.AckStatus.BAD_PACKET, 0)),
        ("device_info", "DEVICE_INFO of the QEMU replay firmware",
         P.DeviceInfoPacket(11, 0x3F, 0x3F, 8, 2000, False, 20_000, ACC_SCALE, GYRO_SCALE, 10, "imuedge-replay")),
    ]
    out = [dict(name=n, description=d, hex=P.encode_packet(p).hex(), frame_hex=P.frame(P.encode_packet(p)).hex(),
                expect=expect(p)) for n, d, p in pk]
    # A newer MINOR version still decodes: 4 unknown trailing header bytes (header_len 36) are skipped.
    s = samples(2, 6, 10)
    b = raw(1, 12, data_ext(1000, 20_000, 2, 0x3F) + b"\xAA\xBB\xCC\xDD", s.astype("<i2").tobytes(), minor=7)
    p = D(12, 1000, 20_000, 0x3F, ACC_SCALE, GYRO_SCALE, s, version=(1, 7))
    out.append(dict(name="data_newer_minor_longer_header", description="v1.7 data packet with a 36-byte header: "
                    "the 4 unknown header bytes are skipped", hex=b.hex(), frame_hex=P.frame(b).hex(), expect=expect(p)))
    b = raw(3, 13, b"", struct.pack("<BBHI", 1, 0, 100, 0) + b"\x01\x02", minor=3)
    out.append(dict(name="ack_newer_minor_longer_payload", description="v1.3 ACK with 2 unknown trailing payload "
                    "bytes: ignored", hex=b.hex(), frame_hex=P.frame(b).hex(),
                    expect=expect(P.AckPacket(13, 100, 1, 0, 0, version=(1, 3)))))
    return out


def invalid_vectors() -> list[dict]:
    good = P.encode_data(P.DataPacket(20, 1000, 20_000, 0x3F, ACC_SCALE, GYRO_SCALE, samples(2, 6, 11)))
    pay = samples(2, 6, 11).astype("<i2").tobytes()
    flip = bytearray(good)
    flip[40] ^= 0x04
    v = [
        ("bad_crc_payload_bit", "one payload bit flipped", bytes(flip), "CRCError"),
        ("bad_crc_field", "CRC field off by one", good[:-2] + struct.pack("<H", (P.crc16(good[:-2]) + 1) & 0xFFFF),
         "CRCError"),
        ("bad_crc_version_byte", "version byte corrupted in transit: caught by the CRC, not the version check",
         good[:2] + b"\x03" + good[3:], "CRCError"),
        ("truncated_short", "5 bytes: below the 12-byte minimum", good[:5], "TruncatedError"),
        ("truncated_empty", "empty packet", b"", "TruncatedError"),
        ("truncated_payload", "header says 24 payload bytes; 10 present (CRC valid over what is there)",
         raw(1, 21, data_ext(0, 20_000, 2, 0x3F), pay, payload_len=24, cut=P.DATA_HEADER_LEN + 10), "TruncatedError"),
        ("truncated_cut_packet", "last 7 bytes of a packet lost: CRC fails first", good[:-7], "CRCError"),
        ("bad_magic", "magic 'IF'", raw(1, 22, data_ext(0, 20_000, 2, 0x3F), pay, magic=b"IF"), "MagicError"),
        ("bad_length_payload_vs_samples", "payload_len 24 but 3 samples x 6 channels need 36",
         raw(1, 23, data_ext(0, 20_000, 3, 0x3F), pay), "LengthError"),
        ("bad_length_trailing_bytes", "4 bytes more than header_len + payload_len + CRC",
         raw(1, 24, data_ext(0, 20_000, 2, 0x3F), pay + b"\x00\x00\x00\x00", payload_len=24), "LengthError"),
        ("bad_length_data_header", "data packet with header_len 10", raw(1, 25, b"", pay), "LengthError"),
        ("bad_length_header_below_common", "header_len 8",
         raw(3, 26, b"", struct.pack("<BBHI", 1, 0, 1, 0), header_len=8, payload_len=10), "LengthError"),
        ("newer_major_version", "protocol v2.0: refused", raw(1, 27, data_ext(0, 20_000, 2, 0x3F), pay, major=2),
         "VersionError"),
        ("older_major_version", "protocol v0.9: refused", raw(1, 28, data_ext(0, 20_000, 2, 0x3F), pay, major=0,
                                                             minor=9), "VersionError"),
        ("unknown_packet_type", "type 9", raw(9, 29, b"", b"\x01\x02"), "UnknownTypeError"),
        ("unknown_command", "command 0x7F", raw(2, 30, b"", b"\x7F"), "UnknownTypeError"),
        ("command_missing_argument", "SET_RATE without its u16", raw(2, 31, b"", b"\x03\x64"), "LengthError"),
        ("bad_channel_mask_reserved", "mask 0x40 (reserved bit)", raw(1, 32, data_ext(0, 20_000, 2, 0x40), b"\x00" * 4),
         "FieldError"),
        ("device_info_name_too_long", "DEVICE_INFO with name_len 40 (> 32)",
         raw(4, 34, b"", struct.pack("<BBBBHIffBB", 63, 63, 8, 0, 2000, 20_000, ACC_SCALE, GYRO_SCALE, 10, 40)
             + b"n" * 40), "FieldError"),
        ("bad_channel_mask_zero", "mask 0", raw(1, 33, data_ext(0, 20_000, 2, 0x00), b""), "FieldError"),
    ]
    out = [dict(name=n, description=d, hex=b.hex(), error=e) for n, d, b, e in v]
    fr = bytearray(P.cobs_encode(good))
    fr[0] = 0xFE  # first block now claims 253 bytes: runs past the frame end
    out.append(dict(name="cobs_code_overrun", description="COBS frame whose code points past its end",
                    frame_hex=bytes(fr).hex(), error="COBSError"))
    return out


def cobs_vectors() -> list[dict]:
    cases = [b"", b"\x00", b"\x00\x00", b"\x11\x22\x00\x33", b"\x11\x22\x33\x44", b"\x11\x00\x00\x00",
             bytes(range(1, 255)), bytes(range(0, 255)), bytes(range(1, 256)) + b"\x00" + bytes(range(2, 256)),
             bytes([1]) * 253, bytes([1]) * 254 + b"\x00", bytes([7]) * 600]
    out = [dict(name=f"cobs_{i}", raw_hex=c.hex(), cobs_hex=P.cobs_encode(c).hex()) for i, c in enumerate(cases)]
    for name, enc in (("cobs_zero_inside", b"\x03\x11\x00"), ("cobs_overrun", b"\x05\x11\x22"),
                      ("cobs_overrun_ff", b"\xff" + b"\x01" * 10)):
        out.append(dict(name=name, cobs_hex=enc.hex(), error="COBSError"))
    return out


def sequence_vectors() -> list[dict]:
    cases = [
        ("contiguous", [0, 1, 2, 3]),
        ("wrap_is_not_a_gap", [65533, 65534, 65535, 0, 1]),
        ("gap_across_wrap", [65534, 65535, 2, 3]),
        ("gap_of_5", [10, 11, 17]),
        ("duplicate", [5, 6, 6, 7]),
        ("reboot_backwards", [500, 501, 0, 1]),
        ("large_gap_32767", [0, 32768]),
    ]
    out = []
    for n, s in cases:
        g = P.GapTracker()
        gaps = [g.update(x) for x in s]
        out.append(dict(name=n, seqs=s, gaps=gaps, lost=g.lost, out_of_order=g.out_of_order))
    return out


def stream_vectors() -> list[dict]:
    def dp(seq):
        return P.encode_data(P.DataPacket(seq, seq * 200_000, 20_000, 0x3F, ACC_SCALE, GYRO_SCALE, samples(10, 6, seq)))
    good = {s: P.frame(dp(s)) for s in range(40, 48)}
    bad_crc = bytearray(good[42])
    bad_crc[20] ^= 0x01 if bad_crc[20] not in (0x01,) else 0x02
    streams = [
        ("clean", b"".join(good[s] for s in (40, 41, 42)), [40, 41, 42], 0),
        ("garbage_before_first_delimiter", b"\x13\x37\xff\xfe" + good[40] + good[41], [40, 41], 1),
        ("leading_delimiters_padding", b"\x00\x00" + good[40] + b"\x00" + good[41], [40, 41], 0),
        ("bad_crc_in_middle", good[40] + good[41] + bytes(bad_crc) + good[43], [40, 41, 43], 1),
        ("lost_delimiter_merges_two_frames", good[40] + good[41][:-1] + good[42] + good[43], [40, 42, 43], 1),
        ("garbage_delimited", b"\x13\x37\xff\xfe\x00" + good[40] + good[41], [40, 41], 1),
        ("truncated_frame_then_good", good[40] + good[41][:30] + b"\x00" + good[42], [40, 42], 1),
        ("noise_burst_between", good[44] + b"\x01\x02\x03\x00\x05\x00" + good[45], [44, 45], 2),
        ("trailing_partial_frame_kept", good[46] + good[47][:-1], [46], 0),
    ]
    return [dict(name=n, stream_hex=b.hex(), seqs=s, corrupt=c) for n, b, s, c in streams]


def build() -> dict[str, dict]:
    head = {"protocol": f"{P.VERSION_MAJOR}.{P.VERSION_MINOR}",
            "generated_by": "python -m imuedge.emulation.make_vectors"}
    files = {"packets_valid.json": valid_vectors(), "packets_invalid.json": invalid_vectors(),
             "cobs.json": cobs_vectors(), "sequences.json": sequence_vectors(), "streams.json": stream_vectors()}
    return {k: {**head, "vectors": v} for k, v in files.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the committed vectors differ from a fresh build")
    args = ap.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    stale = []
    for name, content in build().items():
        text = json.dumps(content, indent=1) + "\n"
        path = OUT / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print("stale vectors:", ", ".join(stale), "- run python -m imuedge.emulation.make_vectors", file=sys.stderr)
        return 1
    print(f"{'checked' if args.check else 'wrote'} {len(build())} files in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
