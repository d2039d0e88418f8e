"""Stream profiles (firmware_bridge/profiles/): byte stream -> SampleBlocks, per wire format."""
import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from imuedge.firmware_bridge import profiles as PR
from imuedge.firmware_bridge import protocol as P

VEC = Path(P.__file__).resolve().parent / "vectors"
G = 9.80665


def load(name):
    return json.loads((VEC / name).read_text())["vectors"]


def chunked(dec, data, chunk):
    if chunk is None:
        return dec.feed(data)
    return [b for i in range(0, len(data), chunk) for b in dec.feed(data[i:i + chunk])]


def test_registry_and_protocol():
    assert {"imuedge", "imuedge-ble", "text", "sensorserver", "witmotion", "witmotion-ble"} <= set(PR.PROFILES)
    for name in PR.PROFILES:
        dec = PR.decoder_for(name)
        assert isinstance(dec, PR.StreamDecoder)
        assert {"packets", "samples", "corrupt", "lost", "skipped"} <= set(dec.stats)
        assert dec.feed(b"") == []
    with pytest.raises(ValueError, match="unknown stream profile"):
        PR.decoder_for("nope")


# --------------------------------------------------------------------------- imuedge (serial)
@pytest.mark.parametrize("v", load("streams.json"), ids=[v["name"] for v in load("streams.json")])
@pytest.mark.parametrize("chunk", [None, 1, 7])
def test_imuedge_profile_matches_frame_decoder_on_shared_vectors(v, chunk):
    data = bytes.fromhex(v["stream_hex"])
    ref = P.FrameDecoder().feed(data)
    gaps = P.GapTracker()
    ref_lost = [gaps.update(p.seq) for p in ref]
    dec = PR.decoder_for("imuedge")
    blocks = chunked(dec, data, chunk)
    data_pkts = [(p, lost) for p, lost in zip(ref, ref_lost) if p.type == P.PacketType.DATA]
    assert [b.seq for b in blocks] == [p.seq for p, _ in data_pkts] == [s for s in v["seqs"]
                                                                         if s in {p.seq for p, _ in data_pkts}]
    for b, (p, _) in zip(blocks, data_pkts):
        np.testing.assert_array_equal(b.data, p.to_array())
        assert b.data.dtype == np.float32 and b.channels == p.channels
        assert b.period_us == p.sample_period_us and b.overflow == p.overflow_count
    assert sum(b.lost_packets for b in blocks) == gaps.lost == dec.stats["lost"]
    assert dec.stats["corrupt"] == v["corrupt"]
    assert dec.stats["packets"] == len(ref) and dec.stats["samples"] == sum(b.n_samples for b in blocks)
    assert sum(dec.stats["errors"].values()) == v["corrupt"]


def data_pkt(seq, ts, n=2, mask=0x3F, overflow=0):
    nch = bin(mask).count("1")
    s = (np.arange(n * nch).reshape(n, nch) + seq).astype(np.int16)
    return P.encode_data(P.DataPacket(seq, ts, 10000, mask, 0.01, 0.001, s, overflow_count=overflow))


def test_imuedge_control_gaps_overflow_and_time_unwrap():
    seen = []
    dec = PR.decoder_for("imuedge", on_control=seen.append)
    info = P.DeviceInfoPacket(5, 0x3F, 0x3F, 8, 1000, False, 10000, 0.01, 0.001, 40, "dev")
    ack = P.AckPacket(6, 1, P.Command.START, P.AckStatus.OK)
    stream = b"".join(P.frame(x) for x in (
        P.encode_device_info(info), P.encode_ack(ack), data_pkt(7, 0xFFFFFF00), data_pkt(10, 0x10, overflow=3)))
    blocks = dec.feed(stream)
    assert seen == [info, ack] and dec.control == [info, ack]
    assert [b.seq for b in blocks] == [7, 10]
    assert blocks[0].device_time_us == 0xFFFFFF00 and blocks[1].device_time_us == (1 << 32) + 0x10  # unwrapped
    assert [b.lost_packets for b in blocks] == [0, 2] and dec.stats["lost"] == 2
    assert blocks[1].overflow == 3 and dec.stats["overflow"] == 3
    assert dec.stats["control_packets"] == 2 and dec.stats["data_packets"] == 2


# --------------------------------------------------------------------------- imuedge-ble
def test_imuedge_ble_one_packet_per_notification():
    dec = PR.decoder_for("imuedge-ble")
    valid = load("packets_valid.json")
    n_data = 0
    for v in valid:
        got = dec.feed(bytes.fromhex(v["hex"]))
        p = P.decode_packet(bytes.fromhex(v["hex"]))
        if p.type == P.PacketType.DATA:
            n_data += 1
            assert len(got) == 1
            np.testing.assert_array_equal(got[0].data, p.to_array())
        else:
            assert got == [] and dec.control[-1] == p
    invalid = [v for v in load("packets_invalid.json") if "hex" in v]
    for v in invalid:
        assert dec.feed(bytes.fromhex(v["hex"])) == []
    assert dec.stats["corrupt"] == len(invalid) and dec.stats["data_packets"] == n_data
    assert sum(dec.stats["errors"].values()) == len(invalid)
    for v in invalid:
        assert dec.stats["errors"][v["error"]] >= 1
    # a COBS frame is not a BLE notification: counted, not decoded
    assert dec.feed(P.frame(data_pkt(1, 0))) == [] and dec.stats["corrupt"] == len(invalid) + 1


# --------------------------------------------------------------------------- text
ARDUINO = (b"Initializing IMU...\r\n"
           b"LSM6DS3 found!\r\n"
           b"0.01,-0.02,1.00,0.5,-0.5,90.0\r\n"
           b"0.02 -0.01 0.98 0.0 0.0 -90\r\n"
           b"0.03\t0.00\t1.01\t1\t2\t3\r\n"
           b"0.04,0.00,1.0x,1,2,3\r\n"       # malformed: corrupt
           b"0.05,0.01,0.99,1,2\r\n"         # a value missing: corrupt
           b"0.06,0.02,0.97,4,5,6\r\n")


@pytest.mark.parametrize("chunk", [None, 1, 5, 17])
def test_text_arduino_lines_units_and_errors(chunk):
    dec = PR.decoder_for("text", acc_unit="g", gyro_unit="dps")
    blocks = chunked(dec, ARDUINO, chunk)
    st = dec.stats
    assert st["skipped"] == 2 and st["corrupt"] == 2 and st["samples"] == 4 and st["lost"] == 2
    assert st["bad_lines"] == [(6, "0.04,0.00,1.0x,1,2,3"), (7, "0.05,0.01,0.99,1,2")]
    assert "line 7" in st["last_error"]
    data = np.concatenate([b.data for b in blocks], axis=1)
    assert data.shape == (6, 4) and data.dtype == np.float32
    np.testing.assert_allclose(data[:, 0], [0.01 * G, -0.02 * G, G, math.radians(0.5), math.radians(-0.5),
                                            math.radians(90)], rtol=1e-6)
    np.testing.assert_allclose(data[:, 3], [0.06 * G, 0.02 * G, 0.97 * G, *np.radians([4, 5, 6])], rtol=1e-6)
    # the two corrupt lines sit between samples 3 and 4: the block is split there and says so
    assert sum(b.lost_packets for b in blocks) == 2
    assert blocks[-1].lost_packets == 2 and blocks[-1].n_samples == 1
    assert all(b.device_time_us is None and b.seq is None for b in blocks)


def test_text_timestamp_column_channel_order_and_wrap():
    dec = PR.decoder_for("text", channels=("gyro_z", "acc_x"), timestamp="ms")
    lines = b"4294967290,1.5,2.5\n4294967295,1.6,2.6\n5,1.7,2.7\n"  # millis() wraps after 2^32 ms
    (b,) = dec.feed(lines)
    assert b.channels == ("acc_x", "gyro_z")  # canonical order on output
    np.testing.assert_allclose(b.data, [[2.5, 2.6, 2.7], [1.5, 1.6, 1.7]], rtol=1e-6)
    assert b.timestamps_us.tolist() == [4294967290000, 4294967295000, (2 ** 32 + 5) * 1000]
    assert b.device_time_us == 4294967290000 and dec.stats["time_resets"] == 0
    (b2,) = dec.feed(b"3,0,0\n")  # backwards by a little: the device reset
    assert dec.stats["time_resets"] == 1 and b2.n_samples == 1


def test_text_infers_channels_labels_partial_and_overlong():
    dec = PR.decoder_for("text")
    assert dec.feed(b"1.0,2.0,3") == []  # partial line kept across chunks
    (b,) = dec.feed(b".0\nax:4 ay:5 az:6\nTemp: 25.1 C\n")
    assert b.channels == ("acc_x", "acc_y", "acc_z")
    np.testing.assert_allclose(b.data, [[1, 4], [2, 5], [3, 6]])
    assert dec.stats["skipped"] == 1  # "Temp: 25.1 C" is text
    assert dec.feed(b"\x01\x02" * 3000) == [] and dec.stats["overlong"] == 1
    assert dec.feed(b"tail\n7,8,9") == [] and dec.stats["corrupt"] == 1  # the overlong line was reported once
    (b,) = dec.flush()
    np.testing.assert_allclose(b.data[:, 0], [7, 8, 9])
    with pytest.raises(ValueError):
        PR.decoder_for("text", acc_unit="furlongs")


def test_text_nan_and_wrong_first_line_are_corrupt_not_fatal():
    dec = PR.decoder_for("text")
    assert dec.feed(b"1,2,3,4\nnan,1,2\n") == []
    assert dec.stats["corrupt"] == 1 and dec.stats["skipped"] == 1  # "nan,1,2" starts with a letter: text
    blocks = dec.feed(b"1,2,3,4,5,6\n1,2,inf,4,5,6\n")
    assert dec.stats["corrupt"] == 2 and blocks[0].n_samples == 1


# --------------------------------------------------------------------------- sensorserver
def ss(kind, values, ts, with_type=True):
    msg = {"accuracy": 3, "timestamp": ts, "values": values}
    if with_type:
        msg["type"] = f"android.sensor.{kind}"
    return json.dumps(msg)


def test_sensorserver_json_messages_pairs_acc_with_latest_gyro():
    msgs = [ss("accelerometer", [0.1, 0.2, 9.8], 1_000_000_000),  # before any gyro: skipped
            ss("gyroscope", [0.01, 0.02, 0.03], 1_004_000_000),
            ss("accelerometer", [0.3, 0.4, 9.7], 1_005_000_000),
            ss("magnetic_field", [30, 1, 2], 1_006_000_000),
            ss("accelerometer", [0.5, 0.6, 9.6], 1_010_000_000)]
    stream = ("\n".join(msgs) + "\n").encode()
    for chunk in (None, 3, 50):
        dec = PR.decoder_for("sensorserver")
        blocks = chunked(dec, stream, chunk)
        data = np.concatenate([b.data for b in blocks], axis=1)
        np.testing.assert_allclose(data, [[0.3, 0.5], [0.4, 0.6], [9.7, 9.6], [0.01] * 2, [0.02] * 2, [0.03] * 2],
                                   rtol=1e-6)
        assert np.concatenate([b.timestamps_us for b in blocks]).tolist() == [1_005_000, 1_010_000]
        assert blocks[0].device_time_us == 1_005_000
        assert dec.stats["skipped"] == 1 and dec.stats["other"] == 1 and dec.stats["packets"] == 5


def test_sensorserver_single_sensor_messages_and_corruption():
    dec = PR.decoder_for("sensorserver", channels=("acc_x", "acc_y", "acc_z"),
                         sensor_type="android.sensor.accelerometer")
    # the README's single-sensor message shape (no "type"), one WebSocket message per feed
    (b,) = dec.feed(b'{"accuracy": 2, "timestamp": 3925657519043709, "values": [0.31892395,-0.97802734,10.049896]}')
    np.testing.assert_allclose(b.data[:, 0], [0.31892395, -0.97802734, 10.049896], rtol=1e-6)
    assert b.device_time_us == 3925657519043
    assert dec.feed(b'{"timestamp": 5, "values": [1, "x", 3]}') == []
    assert dec.feed(b"garbage line\n") == []
    assert dec.feed(b'{"timestamp": 6, "values": [1, 2,, 3]}\n') == []
    (b,) = dec.feed(b'{"timestamp": 7000, "values": [1, 2, 3]}')
    assert dec.stats["corrupt"] == 3 and b.lost_packets == 3
    # two connections, one decoder: say which sensor each message came from
    both = PR.decoder_for("sensorserver")
    assert both.feed(ss("gyroscope", [1, 2, 3], 10, False).encode(), sensor_type=PR.SENSORSERVER_GYRO) == []
    (b,) = both.feed(ss("accelerometer", [4, 5, 6], 20, False).encode(), sensor_type=PR.SENSORSERVER_ACC)
    np.testing.assert_allclose(b.data[:, 0], [4, 5, 6, 1, 2, 3])


# --------------------------------------------------------------------------- WitMotion
def wit(kind, w0, w1, w2, w3=0):
    """An 11-byte WT901 serial packet built from the manual's layout: 55, type, 4 x int16 LE, sum."""
    body = bytes([0x55, kind]) + struct.pack("<4h", w0, w1, w2, w3)
    return body + bytes([sum(body) & 0xFF])


def test_witmotion_hand_checked_packet():
    # acc: x=0, y=0, z=2048 counts = 2048/32768*16 g = 1 g; temperature 2500 (25.00 C)
    acc = bytes.fromhex("5551000000000008c4097b")  # sum: 0x55+0x51+0x08+0xc4+0x09 = 0x17b -> 0x7b
    assert acc == wit(0x51, 0, 0, 2048, 2500)
    # gyro: x=16384 counts = 1000 dps, y=-16384, z=0
    gyro = bytes.fromhex("55520040 00c0 0000 0000".replace(" ", ""))
    gyro += bytes([sum(gyro) & 0xFF])
    assert gyro == wit(0x52, 16384, -16384, 0)
    dec = PR.decoder_for("witmotion")
    (b,) = dec.feed(acc + gyro)
    np.testing.assert_allclose(b.data[:, 0], [0, 0, G, math.radians(1000), -math.radians(1000), 0], rtol=1e-6)
    assert b.device_time_us is None and b.seq is None


@pytest.mark.parametrize("chunk", [None, 1, 4, 13])
def test_witmotion_stream_resync_checksum_and_lost(chunk):
    cycle = lambda k: wit(0x51, k, -k, 2048) + wit(0x52, 10 * k, 0, -10 * k) + wit(0x53, 1, 2, 3)
    bad = bytearray(wit(0x51, 99, 99, 99))
    bad[4] ^= 0x01                                            # checksum mismatch
    stream = (b"\xff\x13\x55\x00" + cycle(1) + cycle(2)       # noise at connect
              + bytes(bad) + wit(0x52, 7, 7, 7)              # acc corrupt -> lone gyro -> lost
              + wit(0x50, 1, 2, 3) + cycle(3)
              + wit(0x51, 5, 5, 5) + cycle(4))               # acc without its gyro -> lost
    dec = PR.decoder_for("witmotion")
    blocks = chunked(dec, stream, chunk)
    data = np.concatenate([b.data for b in blocks], axis=1)
    assert data.shape == (6, 4)
    k = np.array([1, 2, 3, 4])
    np.testing.assert_allclose(data[0], k * 16 / 32768 * G, rtol=1e-6)
    np.testing.assert_allclose(data[3], 10 * k * 2000 / 32768 * math.pi / 180, rtol=1e-6)
    st = dec.stats
    assert st["corrupt"] == 2 and st["lost"] == 2 and st["samples"] == 4  # noise at connect + bad checksum
    assert st["other"] == 5  # four angle packets + one time packet
    assert sum(b.lost_packets for b in blocks) == 2


def test_witmotion_ble_combined_packets():
    words = [2048, 0, -2048, 16384, 0, 0, 100, 200, 300]
    note = bytes([0x55, 0x61]) + struct.pack("<9h", *words)
    assert len(note) == 20
    dec = PR.decoder_for("witmotion-ble")
    (b,) = dec.feed(note + note)  # some stacks deliver two packets in one notification
    assert b.n_samples == 2
    np.testing.assert_allclose(b.data[:, 0], [G, 0, -G, math.radians(1000), 0, 0], rtol=1e-6)
    assert dec.feed(b"\x00" * 20) == [] and dec.stats["corrupt"] == 1
    ser = PR.decoder_for("witmotion")
    assert ser.feed(b"\x55" * 300) == [] and ser.stats["corrupt"] == 1  # one loss of sync, not 290
    (b,) = ser.feed(wit(0x51, 1, 2, 3) + wit(0x52, 4, 5, 6))
    assert ser.stats["corrupt"] == 1 and b.n_samples == 1
    acc_only = PR.decoder_for("witmotion-ble", channels=("acc_x", "acc_y", "acc_z"), acc_range_g=2)
    (b,) = acc_only.feed(note)
    np.testing.assert_allclose(b.data[:, 0], [G / 8, 0, -G / 8], rtol=1e-6)


def test_non_finite_values_never_reach_a_block():
    s = np.ones((2, 6), np.int16)
    bad = P.encode_data(P.DataPacket(1, 0, 1000, 0x3F, float("inf"), 0.001, s))
    dec = PR.decoder_for("imuedge")
    blocks = dec.feed(P.frame(data_pkt(0, 0)) + P.frame(bad) + P.frame(data_pkt(2, 0)))
    assert [x.seq for x in blocks] == [0, 2] and all(np.isfinite(x.data).all() for x in blocks)
    assert dec.stats["errors"]["NonFiniteError"] == 1 and dec.stats["corrupt"] == 1
    assert [x.lost_packets for x in blocks] == [0, 1]  # the dropped packet is reported before seq 2
    t = PR.decoder_for("text")
    assert t.feed(b"1,2,3\n1e300,2,3\n4,5,6\n")[1].lost_packets == 1 and t.stats["corrupt"] == 1


def test_imuedge_scales_and_channels_follow_the_device_packet_by_packet():
    """The decoder keeps the last packet's channels and scales rather than recomputing them per packet: a device
    that changes its range (scale) or its channels mid-stream is followed from that packet on, and a scale so
    large that only some counts overflow float32 is still checked count by count."""
    def pkt(seq, mask, acc, gyro, counts):
        s = np.full((2, bin(mask).count("1")), counts, np.int16)
        return P.frame(P.encode_data(P.DataPacket(seq, seq * 20000, 10000, mask, acc, gyro, s)))
    dec = PR.decoder_for("imuedge")
    huge = 1e35  # 1 count is finite, 30000 counts are not
    blocks = dec.feed(pkt(0, 0x3F, 0.01, 0.001, 3) + pkt(1, 0x3F, 0.02, 0.001, 3) + pkt(2, 0x07, 0.02, 0.001, 3)
                      + pkt(3, 0x38, 0.02, 0.5, 3) + pkt(4, 0x38, 0.02, huge, 1) + pkt(5, 0x38, 0.02, huge, 30000)
                      + pkt(6, 0x38, 0.02, huge, 1))
    assert [b.seq for b in blocks] == [0, 1, 2, 3, 4, 6]
    assert [b.channels for b in blocks] == [P.CHANNELS] * 2 + [P.CHANNELS[:3]] + [P.CHANNELS[3:]] * 3
    assert [float(b.data[0, 0]) for b in blocks] == [np.float32(0.01) * 3, np.float32(0.02) * 3,
                                                     np.float32(0.02) * 3, np.float32(0.5) * 3,
                                                     np.float32(huge), np.float32(huge)]
    assert dec.stats["errors"] == {"NonFiniteError": 1} and blocks[-1].lost_packets == 1


def test_imuedge_serial_counts_frame_and_nonfinite_errors_together():
    bad_scale = P.encode_data(P.DataPacket(1, 0, 1000, 0x3F, float("nan"), 0.001, np.ones((1, 6), np.int16)))
    crc = bytearray(data_pkt(2, 0))
    crc[-1] ^= 0xFF
    dec = PR.decoder_for("imuedge")
    dec.feed(P.frame(data_pkt(0, 0)) + P.frame(bad_scale) + P.frame(bytes(crc)) + P.frame(data_pkt(3, 0)))
    assert dec.stats["corrupt"] == 2 and dec.stats["errors"] == {"NonFiniteError": 1, "CRCError": 1}


def test_imuedge_reboot_resyncs_clock():
    dec = PR.decoder_for("imuedge")
    a = dec.feed(P.frame(data_pkt(500, 3_000_000_000)))
    b = dec.feed(P.frame(data_pkt(0, 1000)))  # device restarted: seq and clock from zero
    assert a[0].device_time_us == 3_000_000_000 and b[0].device_time_us == 1000
    assert dec.stats["out_of_order"] == 1
