"""Codec behaviour read as examples: round trips, version negotiation, physical units."""
import struct

import numpy as np
import pytest

from imuedge.firmware_bridge import protocol as P
from imuedge.window import CHANNELS

ACC, GYRO = 8 * 9.80665 / 32768, 2000 * np.pi / 180 / 32768


def data(seq=0, n=10, mask=0x3F, **kw):
    nch = bin(mask).count("1")
    s = np.arange(n * nch, dtype=np.int16).reshape(n, nch) * 97 - 3000
    return P.DataPacket(seq, 1000, 20_000, mask, ACC, GYRO, s, **kw)


def test_data_round_trip_and_units():
    p = data()
    raw = P.encode_data(p)
    assert len(raw) == P.DATA_HEADER_LEN + 10 * 6 * 2 + P.CRC_LEN
    q = P.decode_packet(raw)
    assert q == p and q.channels == CHANNELS
    arr = q.to_array()
    assert arr.dtype == np.float32 and arr.shape == (6, 10)
    np.testing.assert_array_equal(arr[0], p.samples[:, 0].astype(np.float32) * np.float32(ACC))
    np.testing.assert_array_equal(arr[5], p.samples[:, 5].astype(np.float32) * np.float32(GYRO))


def test_channel_subset_order():
    q = P.decode_packet(P.encode_data(data(mask=0b101010)))
    assert q.channels == ("acc_y", "gyro_x", "gyro_z")
    assert q.to_array().shape == (3, 10)


def test_newer_minor_decodes_known_fields():
    p = data(seq=3, n=2)
    raw = P.encode_data(p)
    body = bytearray(raw[:-2])
    body[3] = 9  # minor 9
    body[5] = P.DATA_HEADER_LEN + 6  # header_len grows by 6 unknown bytes
    body[P.DATA_HEADER_LEN:P.DATA_HEADER_LEN] = b"future"
    body += struct.pack("<H", P.crc16(bytes(body)))
    q = P.decode_packet(bytes(body))
    assert q.version == (1, 9) and np.array_equal(q.samples, p.samples) and q.seq == 3


def test_newer_major_refused_with_clear_message():
    body = bytearray(P.encode_data(data())[:-2])
    body[2] = 2
    body += struct.pack("<H", P.crc16(bytes(body)))
    with pytest.raises(P.VersionError, match=r"v2\.0.*upgrade imuedge"):
        P.decode_packet(bytes(body))


def test_commands_round_trip():
    for c in (P.CommandPacket(1, P.Command.START), P.CommandPacket(2, P.Command.SET_RATE, rate_hz=400),
              P.CommandPacket(3, P.Command.SET_RANGES, acc_range_g=16, gyro_range_dps=250),
              P.CommandPacket(4, P.Command.SET_CHANNELS, channel_mask=0x38)):
        assert P.decode_packet(P.encode_command(c)) == c
    a = P.AckPacket(9, 2, P.Command.SET_RATE, P.AckStatus.OK, 2500)
    assert P.decode_packet(P.encode_ack(a)) == a


def test_ble_samples_per_mtu():
    assert P.max_samples_per_packet(6, mtu=23) == 0  # default ATT MTU: too small for data
    assert P.max_samples_per_packet(6, mtu=49) == 1
    assert P.max_samples_per_packet(6, mtu=247) == 17  # (247-3-32-2)//12
    # at the largest MTU the 512-byte cap on an attribute value binds, not the MTU
    assert P.max_samples_per_packet(3, mtu=517) == 79 and P.max_samples_per_packet(6, mtu=517) == 39
    assert len(P.encode_data(data(n=39))) <= P.BLE_MAX_ATTRIBUTE_LEN < len(P.encode_data(data(n=40)))
    assert P.max_samples_per_packet(6) == 255
    n = P.max_samples_per_packet(6, mtu=247)
    assert len(P.encode_data(data(n=n))) + P.BLE_ATT_OVERHEAD <= 247


def test_timestamp_unwrap():
    u = P.TimestampUnwrapper()
    assert [u.update(t) for t in (0xFFFFFF00, 0xFFFFFFF0, 0x10, 0x2000)] == [
        0xFFFFFF00, 0xFFFFFFF0, (1 << 32) + 0x10, (1 << 32) + 0x2000]
    assert u.resets == 0
    # a short backward jump is the device restarting its clock, not a wrap; a counter wider than 32 bits
    # never wraps
    assert u.update(0x1000) == (1 << 32) + 0x1000 and u.resets == 1
    wide = P.TimestampUnwrapper()
    assert [wide.update(t) for t in (1 << 40, 5)] == [1 << 40, 5] and wide.resets == 1


def test_quantize_is_the_firmware_rounding_and_to_array_inverts_it():
    acc, gyro = 8 * 9.80665 / 32768, 2000 * np.pi / 180 / 32768
    channels = ("acc_x", "gyro_z")
    a32, g32 = float(np.float32(acc)), float(np.float32(gyro))
    x = np.array([[0.49 * a32, 0.5 * a32, -0.5 * a32, -0.51 * a32, 1e9, -1e9],
                  [2.5 * g32, -2.5 * g32, 0.0, 7 * g32, 1e9, -1e9]])
    counts = P.quantize(x, channels, acc, gyro)
    assert counts.dtype == np.int16 and counts.shape == (6, 2)
    # floor(x / scale + 0.5): halves round up, also below zero; clipped to int16
    np.testing.assert_array_equal(counts.T, [[0, 1, 0, -1, 32767, -32768], [3, -2, 0, 7, 32767, -32768]])
    pkt = P.DataPacket(0, 0, 0, P.channels_to_mask(channels), acc, gyro, counts)
    back = pkt.to_array()[:, :4].astype(np.float64)
    assert np.abs(back - x[:, :4]).max() <= max(a32, g32) / 2 + 1e-12  # within half a count


def test_gap_tracker_reports_gap_sizes():
    g = P.GapTracker()
    assert [g.update(s) for s in (65534, 65535, 0, 3, 4)] == [0, 0, 0, 2, 0]
    assert g.gaps == [(1, 2)] and g.lost == 2


def test_decoder_takes_a_long_stream_in_one_feed():
    """2000 frames in one feed; its speed is measured by `python -m benchmarks.decoder_bench`."""
    frames = b"".join(P.frame(P.encode_data(data(seq=i))) for i in range(2000))
    dec = P.FrameDecoder()
    got = dec.feed(frames)
    assert [p.seq for p in got] == list(range(2000)) and dec.corrupt == 0
