"""Every shared vector (firmware_bridge/vectors/*.json) decodes, or fails with its named error class."""
import json
from pathlib import Path

import numpy as np
import pytest

from imuedge.emulation import make_vectors
from imuedge.firmware_bridge import protocol as P

VEC = Path(P.__file__).resolve().parent / "vectors"


def load(name):
    return json.loads((VEC / name).read_text())["vectors"]


def ids(vs):
    return [v["name"] for v in vs]


def test_vectors_are_up_to_date():
    """The committed JSON equals what make_vectors.py generates from the current spec."""
    assert make_vectors.main(["--check"]) == 0


@pytest.mark.parametrize("v", load("packets_valid.json"), ids=ids(load("packets_valid.json")))
def test_valid_packet(v):
    raw = bytes.fromhex(v["hex"])
    p = P.decode_packet(raw)
    assert make_vectors.expect(p) == v["expect"]
    # the serial frame decodes to the same packet, and re-encoding is byte-exact for this version
    assert P.cobs_decode(bytes.fromhex(v["frame_hex"])[:-1]) == raw
    assert P.FrameDecoder().feed(bytes.fromhex(v["frame_hex"])) == [p]
    if tuple(v["expect"]["version"]) == (P.VERSION_MAJOR, P.VERSION_MINOR):
        assert P.encode_packet(p) == raw


@pytest.mark.parametrize("v", load("packets_invalid.json"), ids=ids(load("packets_invalid.json")))
def test_invalid_packet(v):
    err = getattr(P, v["error"])
    assert issubclass(err, P.ProtocolError)
    with pytest.raises(err) as info:
        if "hex" in v:
            P.decode_packet(bytes.fromhex(v["hex"]))
        else:
            P.decode_packet(P.cobs_decode(bytes.fromhex(v["frame_hex"])))
    assert str(info.value)  # a message, not a bare class
    # inside a stream it is counted, never fatal
    dec = P.FrameDecoder()
    fr = P.frame(bytes.fromhex(v["hex"])) if "hex" in v else bytes.fromhex(v["frame_hex"]) + b"\x00"
    assert dec.feed(fr) == [] and dec.corrupt == 1
    assert dec.errors[v["error"]] == 1


@pytest.mark.parametrize("v", load("cobs.json"), ids=ids(load("cobs.json")))
def test_cobs(v):
    enc = bytes.fromhex(v["cobs_hex"])
    if "error" in v:
        with pytest.raises(P.COBSError):
            P.cobs_decode(enc)
        return
    raw = bytes.fromhex(v["raw_hex"])
    assert P.cobs_encode(raw) == enc
    assert 0 not in enc
    assert P.cobs_decode(enc) == raw


@pytest.mark.parametrize("v", load("sequences.json"), ids=ids(load("sequences.json")))
def test_sequences(v):
    g = P.GapTracker()
    assert [g.update(s) for s in v["seqs"]] == v["gaps"]
    assert (g.lost, g.out_of_order) == (v["lost"], v["out_of_order"])


@pytest.mark.parametrize("v", load("streams.json"), ids=ids(load("streams.json")))
@pytest.mark.parametrize("chunk", [None, 1, 7, 64])
def test_streams(v, chunk):
    data = bytes.fromhex(v["stream_hex"])
    dec = P.FrameDecoder()
    if chunk is None:
        got = dec.feed(data)
    else:
        got = [p for i in range(0, len(data), chunk) for p in dec.feed(data[i:i + chunk])]
    assert [p.seq for p in got] == v["seqs"]
    assert dec.corrupt == v["corrupt"]


def test_wrap_vector_is_not_a_gap():
    v = {x["name"]: x for x in load("sequences.json")}["wrap_is_not_a_gap"]
    assert 65535 in v["seqs"] and v["lost"] == 0


def test_float_array_matches_expected_scales():
    v = {x["name"]: x for x in load("packets_valid.json")}["data_acc_x_gyro_y"]
    p = P.decode_packet(bytes.fromhex(v["hex"]))
    arr = p.to_array()
    assert arr.dtype == np.float32 and arr.shape == (2, 3)
    exp = np.array(v["expect"]["samples"], np.float32).T * np.array(
        [[v["expect"]["acc_scale"]], [v["expect"]["gyro_scale"]]], np.float32)
    np.testing.assert_array_equal(arr, exp)


def test_replay_header_is_the_quantized_excerpt(tmp_path):
    """The table compiled into the firmware is protocol.quantize of the committed CSV excerpt."""
    import re

    from imuedge.firmware_bridge import replay_data

    out = tmp_path / "h.h"
    replay_data.write_header(out, 50)
    rows = [[int(x) for x in m.split(",")] for m in re.findall(r"\{([-0-9, ]+)\},", out.read_text())]
    counts = replay_data.load_counts(50)
    assert rows == counts and len(rows) == 50
    raw = np.array(replay_data.load_rows()[:50], np.float64)
    scale = np.array([replay_data.ACC_SCALE] * 3 + [replay_data.GYRO_SCALE] * 3)
    assert np.abs(np.array(counts) * scale - raw).max() <= scale.max() / 2 + 1e-9  # within half a count
    assert len(replay_data.load_rows()) == 2000


# ------------------------------------------------------------------ checks that do not come from our code
def test_crc_matches_the_published_check_value():
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0): the CRC catalogue's
    check value over ASCII "123456789" is 0x29B1."""
    assert P.crc16(b"123456789") == 0x29B1
    # and a second, bitwise computation written here from the parameters alone
    crc = 0xFFFF
    for byte in b"imuedge":
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    assert P.crc16(b"imuedge") == crc


# Worked examples of the COBS article (Cheshire & Baker, "Consistent Overhead Byte Stuffing", 1999, and the
# example table of its Wikipedia article), written out here: (data, encoding without the 0x00 delimiter).
RUN = bytes(range(1, 255))  # 01 02 ... FE: 254 non-zero bytes
PUBLISHED_COBS = [
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (RUN + b"\xff", b"\xff" + RUN + b"\x02\xff"),
    (RUN[1:] + b"\xff\x00", b"\xff" + RUN[1:] + b"\xff\x01\x01"),
    (RUN[2:] + b"\xff\x00\x01", b"\xfe" + RUN[2:] + b"\xff\x02\x01"),
]


@pytest.mark.parametrize("data, encoded", PUBLISHED_COBS, ids=[f"example{i + 1}" for i in range(len(PUBLISHED_COBS))])
def test_cobs_published_examples(data, encoded):
    assert P.cobs_encode(data) == encoded
    assert P.cobs_decode(encoded) == data


@pytest.mark.parametrize("data, table_form", [(RUN, b"\xff" + RUN), (b"\x00" + RUN, b"\x01\xff" + RUN)],
                         ids=["run254", "zero_then_run254"])
def test_cobs_254_byte_run_at_the_end_both_published_forms_decode(data, table_form):
    """A packet ending in 254 non-zero bytes: the paper's reference encoder closes that full block with
    a final 0x01 code (our encoder and the C firmware do the same); the Wikipedia table leaves it out.
    Both decode to the same bytes."""
    assert P.cobs_encode(data) == table_form + b"\x01"
    assert P.cobs_decode(table_form + b"\x01") == data
    assert P.cobs_decode(table_form) == data


def _spec_example() -> str:
    """The hex bytes of PROTOCOL.md section 7's example block (first column of each line)."""
    text = (VEC.parent / "PROTOCOL.md").read_text()
    block = text.split("## 7. Example", 1)[1].split("```", 2)[1]
    return "".join(t for line in block.splitlines() for t in line.split("  ")[0].split() if len(t) == 2)


def test_packet_assembled_by_hand_from_the_spec():
    """Section 7's DATA packet, built here field by field from the tables of sections 1.1, 1.2 and 1.6 with
    struct and the standard library's CRC (not protocol.py), equals the spec's hex dump and decodes."""
    import binascii
    import struct

    samples = [0, -32768, 32767, 29521, -30484, -23321]
    acc_scale = np.float32(8 * 9.80665 / 32768)
    gyro_scale = np.float32(2000 * np.pi / 180 / 32768)
    header = b"IE" + bytes([1, 0, 1, 32]) + struct.pack("<HH", 0, 2 * len(samples))
    header += struct.pack("<IIffHBBBB", 1_000_000, 20_000, acc_scale, gyro_scale, 0, 1, 0x3F, 0, 0)
    body = header + struct.pack("<6h", *samples)
    packet = body + struct.pack("<H", binascii.crc_hqx(body, 0xFFFF))
    assert len(header) == 32 and packet[-2:] == bytes.fromhex("a1d8")
    assert packet.hex() == _spec_example()

    p = P.decode_packet(packet)
    assert (p.seq, p.timestamp_us, p.sample_period_us, p.channel_mask, p.flags) == (0, 1_000_000, 20_000, 0x3F, 0)
    assert p.samples.tolist() == [samples]
    np.testing.assert_array_equal(p.to_array()[:, 0], np.array(samples, np.float32) *
                                  np.array([acc_scale] * 3 + [gyro_scale] * 3, np.float32))
    assert P.encode_packet(p) == packet
    assert P.frame(packet).hex(" ") == (
        "04 49 45 01 03 01 20 01 02 0c 04 40 42 0f 03 20 4e 01 09 0a e8 1c 3b 58 a0 8b 3a 01 03 01 3f 01 01 01 "
        "01 0c 80 ff 7f 51 73 ec 88 e7 a4 a1 d8 00")  # section 7's serial frame


def test_command_assembled_by_hand_from_the_spec():
    """Section 7's SET_RATE 100 Hz command (seq 102) and its ACK, from sections 1.1, 1.3 and 1.4."""
    import binascii
    import struct

    def packet(ptype, seq, payload):
        body = b"IE" + bytes([1, 0, ptype, 10]) + struct.pack("<HH", seq, len(payload)) + payload
        return body + struct.pack("<H", binascii.crc_hqx(body, 0xFFFF))

    cmd = packet(2, 102, bytes([3]) + struct.pack("<H", 100))
    ack = packet(3, 7, struct.pack("<BBHI", 3, 0, 102, 10_000))
    assert cmd.hex() == "49450100020a660003000364000502"
    assert ack.hex() == "49450100030a0700080003006600102700006270"
    c = P.decode_packet(cmd)
    assert (c.seq, c.command, c.rate_hz) == (102, P.Command.SET_RATE, 100)
    a = P.decode_packet(ack)
    assert (a.seq, a.command, a.status, a.acked_seq, a.value) == (7, P.Command.SET_RATE, P.AckStatus.OK, 102, 10_000)
