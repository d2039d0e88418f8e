"""Run the ATmega328P build under simavr and check what it sent.

    python -m imuedge.emulation.avr_sim [--elf PATH]

The AVR demo firmware (firmware_bridge/firmware/boards/atmega328p/main.c) writes its protocol
bytes as hex text (simavr shows the UART as text), plays the 200-sample HAPT
excerpt at 200 Hz via SET_RATE + START given to its own command parser, sends
STOP and halts. Here the hex is turned back into bytes and decoded with the
same FrameDecoder as the QEMU stream: a DEVICE_INFO, three OK ACKs, no corrupt
frame, no gap, and exactly the first 200 recorded samples.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from imuedge.firmware_bridge import protocol as P
from imuedge.firmware_bridge import replay_data
from imuedge.emulation.qemu_e2e import expect

ELF = Path(P.__file__).resolve().parent / "firmware" / "build" / "avr" / "imuedge_m328p.elf"
N_SAMPLES = 200  # firmware Makefile: hapt_replay_small.h --samples 200


def run(elf: Path = ELF, log=print) -> dict:
    t = time.monotonic()
    r = subprocess.run(["simavr", "-m", "atmega328p", "-f", "16000000", str(elf)], capture_output=True, text=True,
                       timeout=120)
    text = re.sub(r"\x1b\[[0-9;]*m", "", r.stdout + r.stderr)
    done = re.search(r"DONE (\d+)", text)
    expect(done, f"simavr ended without DONE (rc {r.returncode}):\n{text[-2000:]}")
    hexdigits = "".join(re.findall(r"^([0-9a-f]+)\.?$", text, re.M))
    dec = P.FrameDecoder()
    pkts = dec.feed(bytes.fromhex(hexdigits))
    expect(dec.corrupt == 0, dec.errors)
    gaps = P.GapTracker()
    for p in pkts:
        gaps.update(p.seq)
    expect(gaps.lost == 0 and pkts[0].seq == 0, gaps)
    info = [p for p in pkts if p.type == P.PacketType.DEVICE_INFO]
    acks = [p for p in pkts if p.type == P.PacketType.ACK]
    data = [p for p in pkts if p.type == P.PacketType.DATA]
    expect(len(info) == 1 and info[0].name == "imuedge-replay-avr", info)
    expect([(a.command, a.status) for a in acks] == [(P.Command.SET_RATE, 0), (P.Command.START, 0),
                                                     (P.Command.STOP, 0)], acks)
    expect(acks[0].value == 5000 and all(p.sample_period_us == 5000 for p in data),
           f"SET_RATE 200 Hz not in effect: ACK value {acks[0].value}, periods {sorted({p.sample_period_us for p in data})}")
    got = np.concatenate([p.samples for p in data])
    want = np.array(replay_data.load_counts(N_SAMPLES), np.int16)
    expect(len(got) == int(done.group(1)) == N_SAMPLES, (len(got), done.group(1)))
    expect(np.array_equal(got, want), "AVR samples differ from the recording")
    expect(not any(p.flags & P.DataFlags.OVERFLOW for p in data), "ring overflow")
    res = dict(samples=len(got), expected_samples=N_SAMPLES, data_packets=len(data), seconds=round(time.monotonic() - t, 2))
    log(f"simavr OK: {res}")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--elf", type=Path, default=ELF)
    run(ap.parse_args(argv).elf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
