"""Every shared vector (firmware_bridge/vectors/*.json) decodes, or fails with its named error class."""
import json
from pathlib import Path

import numpy as np
import pytest

from imuedge.firmware_bridge import make_vectors
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
    """The table compiled into the firmware is replay_data.quantize of the committed CSV excerpt."""
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
