"""A device simulator on a pseudo-terminal: a real tty the runtime opens like /dev/ttyACM0.

It plays a recording (the project's CSV format) as an IMU device would: int16 counts of
a ±8 g / ±2000 dps sensor in imuedge protocol DATA packets (``firmware_bridge.protocol``,
the one codec), COBS-framed, paced at the device rate (the sender sleeps until each
packet's last sample "was taken"), or as text lines. It waits for the host's first byte
(the START command the runtime sends at connect) before streaming, as the firmware does.

Faults for tests: ``drop`` (packets never sent; sequence numbers still advance),
``corrupt`` (a byte flipped in those packets), ``noise`` (garbage bytes before those
packets), ``disconnect_at``/``disconnect_for`` (the tty vanishes and comes back under
the same ``link`` path, as a USB device re-enumerates under /dev/serial/by-id; the
device clock keeps running, so the outage is a gap in device time).

Run it as a process (``python -m imuedge.emulation.simulator --csv FILE --link PATH``)
or start one from Python with ``start_simulator(...)``; it prints ``ready PATH`` when the
link exists. ``expected_stream(recording)`` gives the float32 samples the host will
decode (counts x float32 scale), for offline comparisons.
"""
from __future__ import annotations

import argparse
import math
import os
import select
import subprocess
import sys
import time
import tty
from pathlib import Path

import numpy as np

from imuedge.emulation import RigError, one_line
from imuedge.firmware_bridge import protocol as P
from imuedge.firmware_bridge.replay_data import ACC_SCALE, GYRO_SCALE


def quantize(data: np.ndarray, channels) -> np.ndarray:
    """float32 (C, n) physical units -> int16 (n, C) counts of the simulated ±8 g / ±2000 dps sensor
    (``protocol.quantize``: the firmware's rounding)."""
    return P.quantize(data, channels, ACC_SCALE, GYRO_SCALE)


def decoded(counts: np.ndarray, channels) -> np.ndarray:
    """int16 (n, C) counts -> what the host decodes from them: float32 (C, n), via DataPacket.to_array()."""
    return P.DataPacket(0, 0, 0, P.channels_to_mask(channels), ACC_SCALE, GYRO_SCALE, counts).to_array()


def expected_stream(data: np.ndarray, channels) -> np.ndarray:
    """What the host decodes from the simulator: float32 (C, n)."""
    return decoded(quantize(data, channels), channels)


def _ints(text: str | None) -> set[int]:
    return {int(v) for v in text.split(",") if v.strip()} if text else set()


class Orphaned(RigError):
    """The process that started the simulator is gone."""


class PtyDevice:
    def __init__(self, link: Path):
        self.link = Path(link)
        self.master = self.slave = None
        self.parent = os.getppid()

    def check_parent(self) -> None:
        if os.getppid() != self.parent:  # whoever started us is gone (a killed benchmark, a crashed test)
            raise Orphaned()

    def open(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        name = os.ttyname(self.slave)
        tmp = self.link.with_name(self.link.name + ".tmp")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(name, tmp)
        os.replace(tmp, self.link)

    def wait_host(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:  # in 1 s slices, so that a simulator whose parent died does not wait forever
            left = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            r, _, _ = select.select([self.master], [], [], max(0.0, left))
            if r or (deadline is not None and time.monotonic() >= deadline):
                break
            self.check_parent()
        if r:
            try:
                os.read(self.master, 4096)
            except OSError:
                return False
            return True
        return False

    def drain(self) -> None:
        while select.select([self.master], [], [], 0)[0]:
            try:
                if not os.read(self.master, 4096):
                    return
            except OSError:
                return

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if not select.select([], [self.master], [], 1.0)[1]:  # nobody reading: the tty buffer is full
                self.check_parent()
                continue
            n = os.write(self.master, view)
            view = view[n:]

    def close(self) -> None:
        if self.link.is_symlink():
            self.link.unlink()
        for fd in (self.master, self.slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self.slave = None


def run(args) -> int:
    from imuedge.data import RecordingsConfig, read_recording_file

    rec = read_recording_file(args.csv, RecordingsConfig(strict=True)).recording
    channels = rec.channels
    counts = quantize(rec.data, channels)
    if args.samples:
        counts = counts[:args.samples]
    rate = float(args.rate or rec.sample_rate_hz)
    period_us = int(round(1e6 / rate))
    per = int(args.samples_per_packet)
    mask = P.channels_to_mask(channels)
    drop, corrupt, noise = _ints(args.drop), _ints(args.corrupt), _ints(args.noise)
    values = counts.astype(np.float64) * np.array([ACC_SCALE if c.startswith("acc") else GYRO_SCALE
                                                    for c in channels])
    dev = PtyDevice(Path(args.link))
    dev.open()
    print(f"ready {args.link}", flush=True)
    if args.wait_host and not dev.wait_host(args.host_timeout):
        print("no host", file=sys.stderr, flush=True)
        dev.close()
        return 2
    n_total = len(counts)
    t0 = time.monotonic()
    speed = args.speed
    seq, k, loops = 0, 0, 0
    disconnected = False
    ts0 = 1_000_000
    while True:
        dev.check_parent()
        if k >= n_total:
            loops += 1
            if args.loops and loops >= args.loops:
                break
            k = 0
        n = min(per, n_total - k)
        sample_index = loops * n_total + k
        due = t0 + (sample_index + n) * period_us / 1e6 / (speed or math.inf)
        now = time.monotonic()
        elapsed = now - t0
        if args.disconnect_at is not None and not disconnected and elapsed * (speed or 1) >= args.disconnect_at:
            dev.close()
            disconnected = True
            reopen_at = now + args.disconnect_for
        if disconnected and now >= reopen_at:
            dev.open()
            disconnected = False
            args.disconnect_at = None
            if args.wait_host:
                dev.wait_host(args.host_timeout)
        if speed and due > now:
            time.sleep(due - now)
        if not disconnected:
            dev.drain()
            if args.format == "imuedge":
                flags = P.DataFlags.STARTED if seq == 0 else 0
                pkt = P.DataPacket(seq, (ts0 + sample_index * period_us) & 0xFFFFFFFF, period_us, mask,
                                   ACC_SCALE, GYRO_SCALE, counts[k:k + n], flags)
                raw = P.encode_data(pkt)
                if seq in corrupt:
                    b = bytearray(raw)
                    b[len(b) // 2] ^= 0x5A
                    raw = bytes(b)
                out = P.frame(raw)
                if seq in noise:
                    out = b"\x13\x37garbage\x49\x45\xff" + out
                if seq not in drop:
                    try:
                        dev.write(out)
                    except OSError:
                        pass
            else:
                lines = "".join(",".join(f"{v:.6f}" for v in row) + "\n" for row in values[k:k + n])
                try:
                    dev.write(lines.encode())
                except OSError:
                    pass
        seq = (seq + 1) & 0xFFFF
        k += n
    time.sleep(args.linger)
    dev.close()
    print("done", flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m imuedge.emulation.simulator",
                                 description="Stream a CSV recording over a pseudo-terminal as an IMU device would.")
    ap.add_argument("--csv", required=True, help="recording in the project's CSV format")
    ap.add_argument("--link", required=True, help="path of the symlink to the tty (the 'device node')")
    ap.add_argument("--format", choices=("imuedge", "text"), default="imuedge", help="binary protocol or text lines")
    ap.add_argument("--rate", type=float, help="device sample rate, Hz (default: the recording's)")
    ap.add_argument("--samples-per-packet", type=int, default=10, help="samples per DATA packet / write")
    ap.add_argument("--samples", type=int, help="only the first N samples")
    ap.add_argument("--speed", type=float, default=1.0, help="x real time; 0 = as fast as the link takes")
    ap.add_argument("--loops", type=int, default=1, help="play the recording N times (0 = forever)")
    ap.add_argument("--drop", help="sequence numbers of packets not to send, e.g. 5,6")
    ap.add_argument("--corrupt", help="sequence numbers of packets to send with a flipped byte")
    ap.add_argument("--noise", help="sequence numbers of packets preceded by garbage bytes")
    ap.add_argument("--disconnect-at", type=float, help="device seconds after which the tty vanishes")
    ap.add_argument("--disconnect-for", type=float, default=1.0, help="seconds the tty stays away")
    ap.add_argument("--no-wait-host", dest="wait_host", action="store_false",
                    help="stream at once instead of waiting for the host's first byte")
    ap.add_argument("--host-timeout", type=float, default=60.0, help="seconds to wait for the host")
    ap.add_argument("--linger", type=float, default=0.5, help="seconds to keep the tty open after the last packet")
    return ap


def start_simulator(csv: str | Path, link: str | Path, *extra: str, timeout: float = 60.0) -> subprocess.Popen:
    """Start the simulator process; returns once the link exists. Extra args as on the command line."""
    cmd = [sys.executable, "-m", "imuedge.emulation.simulator", "--csv", str(csv), "--link", str(link),
           *map(str, extra)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        proc.kill()
        _, err = proc.communicate(timeout=timeout)
        raise RigError(f"simulator failed to start: {one_line(err) or repr(line)}")
    return proc


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except Orphaned:
        print("the process that started this simulator exited; stopping", file=sys.stderr, flush=True)
        link = Path(args.link)
        if link.is_symlink():
            link.unlink()
        return 3


if __name__ == "__main__":
    sys.exit(main())
