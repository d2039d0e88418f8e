"""The fuzzer (``emulation/fuzz.py``): random and mutated inputs into every decoder, and corruption injected
into a live pty stream (every class counted, every good sample delivered; the same run as
`python -m imuedge.emulation.fuzz --pty`)."""
import json
import os

import pytest

from imuedge.emulation import fuzz


def test_every_corruption_class_counted_and_no_good_sample_lost():
    pytest.importorskip("serial", reason="pyserial (imuedge[device]) not installed")
    if not hasattr(os, "openpty"):
        pytest.skip("no os.openpty on this platform")
    r = fuzz.pty_injection(rounds=2, seed=3)
    assert r["writer_error"] is None
    # every good sample arrived, in order, bit-identical, and no gap was reported
    assert r["received_samples"] == r["good_samples"] > 0 and r["samples_identical"] and r["seqs_in_order"]
    assert r["lost_reported"] == 0
    # each class counted exactly as many times as it was injected
    assert r["errors_by_class"] == r["expected_by_class"]
    vec = json.loads((fuzz.VECTORS / "packets_invalid.json").read_text())["vectors"]
    assert {v["error"] for v in vec} | {"OversizeError"} <= set(r["errors_by_class"])
    assert {v["name"] for v in vec} <= set(r["classes_injected"])
    assert r["ok"]


def test_fuzz_report_json(tmp_path):
    out = tmp_path / "fuzz.json"
    assert fuzz.main(["3000", "--no-pty", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["fuzz"]["inputs"] >= 3000 and r["fuzz"]["crashes"] == 0 and r["fuzz"]["hangs"] == 0
    assert r["peak_rss_mb"] > 0 and r["machine"]["cores"] and r["ok"]
    assert set(r["fuzz"]["by_target"]) >= {"decode_packet", "FrameDecoder", "imuedge", "text", "witmotion"}


@pytest.mark.slow
def test_fuzz_million_inputs():
    """>= 1,000,000 random / mutated inputs through decode_packet and FrameDecoder (run with -m slow)."""
    assert fuzz.run(1_000_000, seed=1) >= 1_000_000


def test_a_decoder_crash_is_a_named_error_even_under_python_O():
    """fuzz.run's verdict is a FuzzCrash, not an assert that `python -O` strips: here every decode_packet
    raises, in a child interpreter started with -O."""
    import subprocess
    import sys

    code = ("from imuedge.emulation import fuzz\nfrom imuedge.firmware_bridge import protocol as P\n"
            "def broken(b): raise ValueError('boom')\n"
            "P.decode_packet = broken\n"
            "try:\n    fuzz.run(50)\nexcept fuzz.FuzzCrash as e:\n    print('FuzzCrash:', e)\n")
    r = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("FuzzCrash: ") and "ValueError('boom')" in r.stdout
