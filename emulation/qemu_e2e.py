"""End-to-end: the Cortex-M3 firmware in QEMU -> emulated UART -> FrameDecoder.

    python -m imuedge.emulation.qemu_e2e [--elf PATH]

Boots ``firmware_bridge/firmware/build/arm/imuedge_mps2.elf`` on ``qemu-system-arm -M mps2-an385``
with UART0 on a unix socket (``server=on,wait=on``: the guest does not start until
we are connected, so nothing is lost), then drives it with real commands and checks:

* the DEVICE_INFO hello and GET_INFO answer;
* SET_RATE / START / STOP / SET_RATE-while-streaming / START again are each ACKed
  OK and take effect (packet period, STARTED and CONFIG_CHANGED flags, silence
  after STOP);
* a corrupt command frame is answered BAD_PACKET and changes nothing;
* every decoded sample equals the compiled-in HAPT recording (int16 counts from
  protocol.quantize of the excerpt, looping past its end) and the float32 array equals
  counts x scale; no sequence gap, no overflow, no corrupt frame; timestamps
  advance by exactly n x period within a run.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from imuedge.emulation import RigError, one_line
from imuedge.firmware_bridge import protocol as P
from imuedge.firmware_bridge import replay_data

FIRMWARE = Path(P.__file__).resolve().parent / "firmware"


class FirmwareCheckFailed(RigError):
    """The emulated firmware sent something the protocol or its compiled-in recording rules out."""


def expect(ok, what) -> None:
    """Raise ``FirmwareCheckFailed(what)`` unless ``ok`` (a check that ``python -O`` keeps)."""
    if not ok:
        raise FirmwareCheckFailed(str(what))
ELF = FIRMWARE / "build" / "arm" / "imuedge_mps2.elf"


def start_qemu(elf: Path = ELF, serial: str = "unix", qemu: str = "qemu-system-arm"):
    """Start QEMU with UART0 on a unix socket (``serial="unix"``: the guest waits for the
    first connection) or a pty (``"pty"``: output before the pty is opened is dropped).
    Returns (process, socket-or-pty path, temp dir to remove)."""
    tmp = tempfile.mkdtemp(prefix="fb_qemu_")
    path = os.path.join(tmp, "uart0.sock")
    chardev = f"unix:{path},server=on,wait=on" if serial == "unix" else "pty"
    proc = subprocess.Popen([qemu, "-M", "mps2-an385", "-kernel", str(elf), "-display", "none", "-monitor", "none",
                             "-serial", chardev], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if serial == "pty":  # QEMU prints "char device redirected to /dev/pts/N (label serial0)"
        line = proc.stdout.readline().decode()
        if "/dev/" not in line:
            proc.kill()
            raise RigError(f"QEMU did not report its pty: {line!r}")
        return proc, line.split("redirected to ")[1].split()[0], tmp
    deadline = time.monotonic() + 20
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RigError(f"QEMU did not open its UART socket: {one_line(proc.stdout.read())}")
        time.sleep(0.02)
    return proc, path, tmp


class QemuDevice:
    """qemu-system-arm running the firmware, its UART0 on a unix socket."""

    def __init__(self, elf: Path = ELF, qemu: str = "qemu-system-arm"):
        self.proc, self.path, self.tmp = start_qemu(elf, "unix", qemu)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)
        self.decoder = P.FrameDecoder()
        self.packets: list = []
        self.bytes_in = 0
        self.lock = threading.Condition()
        self.seq = 0
        self._stop = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while not self._stop:
            try:
                b = self.sock.recv(65536)
            except OSError:
                return
            if not b:
                return
            got = self.decoder.feed(b)
            with self.lock:
                self.bytes_in += len(b)
                self.packets.extend((time.monotonic(), p) for p in got)
                self.lock.notify_all()

    def send(self, command: int, **args) -> int:
        self.seq += 1
        self.sock.sendall(P.frame(P.encode_command(P.CommandPacket(self.seq, command, **args))))
        return self.seq

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def wait(self, pred, timeout=10.0, start=0):
        """Wait for a packet (index >= start) satisfying pred; returns (index, packet)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for i in range(start, len(self.packets)):
                    if pred(self.packets[i][1]):
                        return i, self.packets[i][1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching packet in {timeout} s ({len(self.packets)} packets so far)")
                self.lock.wait(left)

    def ack(self, seq, timeout=10.0, start=0):
        return self.wait(lambda p: p.type == P.PacketType.ACK and p.acked_seq == seq, timeout, start)

    def close(self):
        self._stop = True
        try:
            self.sock.close()
        finally:
            self.proc.kill()
            self.proc.wait()
            shutil.rmtree(self.tmp, ignore_errors=True)


def run(elf: Path = ELF, log=print) -> dict:
    t0 = time.monotonic()
    expected = np.array(replay_data.load_counts(), dtype=np.int16)  # (2000, 6)
    dev = QemuDevice(elf)
    try:
        _, hello = dev.wait(lambda p: p.type == P.PacketType.DEVICE_INFO, 20)
        expect(hello.name == "imuedge-replay-mps2" and not hello.streaming and hello.sample_period_us == 20_000, hello)
        boot_s = time.monotonic() - t0
        s = dev.send(P.Command.GET_INFO)
        i, info = dev.wait(lambda p: p.type == P.PacketType.DEVICE_INFO, start=1)
        _, a = dev.ack(s, start=i)
        expect(a.status == P.AckStatus.OK and info.acc_range_g == 8 and info.gyro_range_dps == 2000, (a, info))
        # a corrupt command: answered BAD_PACKET, nothing else happens
        bad = bytearray(P.encode_command(P.CommandPacket(99, P.Command.START)))
        bad[-1] ^= 0xFF
        dev.send_raw(P.frame(bytes(bad)))
        _, a = dev.wait(lambda p: p.type == P.PacketType.ACK and p.status == P.AckStatus.BAD_PACKET)
        a = dev.ack(dev.send(P.Command.SET_RATE, rate_hz=1000))[1]
        expect(a.status == P.AckStatus.OK and a.value == 1000, a)
        a = dev.ack(dev.send(P.Command.SET_RANGES, acc_range_g=4, gyro_range_dps=500))[1]
        expect(a.status == P.AckStatus.UNSUPPORTED, a)  # the replay's ranges are those of the recording
        expect(not [p for _, p in dev.packets if p.type == P.PacketType.DATA], "data before START")

        def samples_so_far():
            with dev.lock:
                return sum(p.n_samples for _, p in dev.packets if p.type == P.PacketType.DATA)

        def wait_samples(n, timeout=30):
            deadline = time.monotonic() + timeout
            while samples_so_far() < n:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{samples_so_far()} samples after {timeout} s, wanted {n}")
                time.sleep(0.05)

        start_at = len(dev.packets)
        t_start = time.monotonic()
        a = dev.ack(dev.send(P.Command.START), start=start_at)[1]
        expect(a.status == P.AckStatus.OK, a)
        wait_samples(1500)
        rate_1000_wall = 1500 / (time.monotonic() - t_start)
        i, a = dev.ack(dev.send(P.Command.SET_RATE, rate_hz=500))
        expect(a.status == P.AckStatus.OK and a.value == 2000, a)
        wait_samples(1800)
        i, a = dev.ack(dev.send(P.Command.STOP))
        expect(a.status == P.AckStatus.OK, a)
        n_stop = len(dev.packets)
        time.sleep(0.3)
        after_stop = [p for _, p in dev.packets[n_stop:] if p.type == P.PacketType.DATA]
        expect(not after_stop, f"{len(after_stop)} data packets after STOP was acknowledged")
        restart_at = len(dev.packets)
        a = dev.ack(dev.send(P.Command.START), start=restart_at)[1]
        expect(a.status == P.AckStatus.OK, a)
        wait_samples(2300)  # past the end of the 2000-sample recording: the replay loops
        a = dev.ack(dev.send(P.Command.STOP))[1]
        expect(a.status == P.AckStatus.OK, a)
        time.sleep(0.1)
        with dev.lock:
            pkts = [p for _, p in dev.packets]
        # ---- checks over the whole stream
        gaps = P.GapTracker()
        for p in pkts:
            gaps.update(p.seq)
        data = [p for p in pkts if p.type == P.PacketType.DATA]
        got = np.concatenate([p.samples for p in data])
        want = expected[np.arange(len(got)) % len(expected)]
        mismatches = int((got != want).any(axis=1).sum())
        expect(mismatches == 0, f"{mismatches} samples differ from the compiled-in recording")
        arr = np.concatenate([p.to_array() for p in data], axis=1)
        scales = np.array([replay_data.ACC_SCALE] * 3 + [replay_data.GYRO_SCALE] * 3, np.float32)[:, None]
        expect(np.array_equal(arr, want.T.astype(np.float32) * scales), "float32 samples differ from counts x scale")
        expect(gaps.lost == 0 and gaps.out_of_order == 0, gaps)
        expect(dev.decoder.corrupt == 0, dev.decoder.errors)
        expect(not any(p.flags & P.DataFlags.OVERFLOW for p in data), "ring overflow")
        periods = [p.sample_period_us for p in data]
        expect(periods[0] == 1000 and 2000 in periods and set(periods) == {1000, 2000}, sorted(set(periods)))
        started = [k for k, p in enumerate(data) if p.flags & P.DataFlags.STARTED]
        expect(len(started) == 2 and started[0] == 0, started)
        changed = [k for k, p in enumerate(data) if p.flags & P.DataFlags.CONFIG_CHANGED]
        # SET_RATE 1000 before START flags the first packet; SET_RATE 500 while streaming flags the switch
        expect(changed[0] == 0 and len(changed) == 2 and data[changed[1]].sample_period_us == 2000, changed)
        expect(all(periods[k] == 2000 for k in range(changed[1], len(data))), "rate change not in effect")
        expect(all(periods[k] == 1000 for k in range(changed[1])), "old rate leaked past the switch")
        # timestamps: exactly n x period between consecutive packets of one run at one rate
        ts_ok = 0
        for a_, b_ in zip(data, data[1:]):
            if b_.flags & (P.DataFlags.STARTED | P.DataFlags.CONFIG_CHANGED):
                continue
            expect((b_.timestamp_us - a_.timestamp_us) & 0xFFFFFFFF == a_.n_samples * a_.sample_period_us, (a_, b_))
            ts_ok += 1
        result = dict(samples=len(got), data_packets=len(data), packets=len(pkts), bytes=dev.bytes_in,
                      corrupt_frames=dev.decoder.corrupt, lost_packets=gaps.lost, timestamp_steps_checked=ts_ok,
                      boot_s=round(boot_s, 2), wall_rate_at_1000hz=round(rate_1000_wall, 1),
                      total_s=round(time.monotonic() - t0, 2))
        log(f"qemu e2e OK: {result}")
        return result
    finally:
        dev.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="QEMU end-to-end test of the imuedge firmware")
    ap.add_argument("--elf", type=Path, default=ELF)
    args = ap.parse_args(argv)
    if not shutil.which("qemu-system-arm"):
        print("qemu-system-arm not found", file=sys.stderr)
        return 2
    run(args.elf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
