"""The phone app's JavaScript decoder (android_demo/src/protocol.js) against every shared byte vector.

Node runs the decoder over firmware_bridge/vectors/*.json and prints what it decoded in the shape of
``make_vectors.expect``; each vector's answer is then checked here like tests/firmware_bridge/test_vectors.py
checks the Python decoder: the same packets, the same error classes, the same gaps and counters.
"""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from imuedge.firmware_bridge import protocol as P

VEC = Path(P.__file__).resolve().parent / "vectors"
HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node not installed (./test.sh installs it)")


def load(name):
    return json.loads((VEC / name).read_text())["vectors"]


@pytest.fixture(scope="module")
def js():
    out = subprocess.run(["node", str(HERE / "protocol_vectors.mjs"), str(VEC)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("v", load("packets_valid.json"), ids=lambda v: v["name"])
def test_valid_packet(js, v):
    got = js["valid"][v["name"]]
    assert got["expect"] == v["expect"]
    assert got["frame_decodes_to_raw"] and got["frame_packets"] == [v["expect"]]
    if v["expect"]["type"] == "COMMAND" and tuple(v["expect"]["version"]) == (1, 0):
        assert got["reencoded_command"] == v["hex"]


@pytest.mark.parametrize("v", load("packets_invalid.json"), ids=lambda v: v["name"])
def test_invalid_packet(js, v):
    got = js["invalid"][v["name"]]
    assert got["error"] is not None and got["error"][0] == v["error"] and got["error"][1]
    # inside a stream it is counted, never fatal
    assert (got["stream_packets"], got["stream_corrupt"], got["stream_errors"]) == (0, 1, {v["error"]: 1})


def test_invalid_messages_are_the_python_decoders(js):
    """Same words as the host decoder, so a user sees one message whichever side decoded."""
    for v in load("packets_invalid.json"):
        raw = bytes.fromhex(v["hex"]) if "hex" in v else None
        try:
            P.decode_packet(raw if raw is not None else P.cobs_decode(bytes.fromhex(v["frame_hex"])))
        except P.ProtocolError as e:
            assert js["invalid"][v["name"]]["error"] == [type(e).__name__, str(e)], v["name"]


@pytest.mark.parametrize("v", load("cobs.json"), ids=lambda v: v["name"])
def test_cobs(js, v):
    got = js["cobs"][v["name"]]
    if "error" in v:
        assert got == {"error": "COBSError"}
        return
    assert got["decoded"] == v["raw_hex"] and got["encoded"] == v["cobs_hex"]


@pytest.mark.parametrize("v", load("sequences.json"), ids=lambda v: v["name"])
def test_sequences(js, v):
    assert js["sequences"][v["name"]] == {"gaps": v["gaps"], "lost": v["lost"], "out_of_order": v["out_of_order"]}


@pytest.mark.parametrize("v", load("streams.json"), ids=lambda v: v["name"])
def test_streams_in_any_chunking(js, v):
    for chunk, got in js["streams"][v["name"]].items():
        assert got == {"seqs": v["seqs"], "corrupt": v["corrupt"]}, f"chunk {chunk}"


def test_crc_check_value_and_timestamp_unwrap(js):
    assert js["crc_check"] == 0x29B1
    u = P.TimestampUnwrapper()
    assert js["unwrap"] == [u.update(t) for t in (0xFFFFFF00, 0x10, 0x20)]
