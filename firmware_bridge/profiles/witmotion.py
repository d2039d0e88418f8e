"""WitMotion IMUs: WT901-family serial output (11-byte 0x55-framed packets with checksum) and their BLE
modules (20-byte 0x55 0x61 combined packets)."""
from __future__ import annotations

import math

import numpy as np

from imuedge.window import CHANNELS, STANDARD_GRAVITY

from .blocks import Blocks, SampleBlock


WIT_HEADER = 0x55
WIT_TIME, WIT_ACC, WIT_GYRO, WIT_ANGLE, WIT_MAG = 0x50, 0x51, 0x52, 0x53, 0x54
WIT_BLE_COMBINED = 0x61
WIT_PACKET_LEN = 11
WIT_BLE_PACKET_LEN = 20


class WitMotionDecoder:
    """Profiles ``witmotion`` (serial / USB-serial / Bluetooth-SPP, e.g. WT901, WT901C,
    BWT901CL, HWT901B) and ``witmotion-ble`` (WT901BLECL / BWT901BLE notifications).

    Serial packets are 11 bytes: 0x55, type, four little-endian int16 words, checksum =
    low byte of the sum of the first 10 bytes. Types used: 0x51 acceleration (x, y, z,
    temperature), scale ``acc_range_g``/32768 g per count (default ±16 g); 0x52 angular
    rate (x, y, z, temperature or voltage), scale ``gyro_range_dps``/32768 °/s per count
    (default ±2000 °/s). 0x50 time, 0x53 angle, 0x54 magnetic field, and the others are
    counted in ``other`` and ignored. A sample is emitted when both an acceleration and
    a rate packet of the same output cycle have arrived (the device sends 0x51 then
    0x52 each cycle); a cycle whose partner packet never arrived counts as ``lost`` and
    the next block has ``lost_packets`` set. Resync after noise: bytes are skipped until
    a 0x55 starts an 11-byte packet of a known type with a correct checksum.

    BLE packets (``ble=True``) are 20 bytes: 0x55 0x61 then nine int16: acc x,y,z,
    rate x,y,z, angle x,y,z (same scales), no checksum; one per notification.

    The format carries no device timestamp and no sequence number: ``device_time_us``
    and ``seq`` are None, ``period_us`` is None.

    stats keys: packets (good packets, any type), samples, corrupt (losses of sync: a
    checksum failure or bytes that start no packet, counted once until the next good
    packet), garbage_bytes (bytes skipped while resyncing), lost (unpaired acc/gyro packets),
    skipped (always 0), other (non-IMU packets), last_error.
    """

    def __init__(self, channels=CHANNELS, acc_range_g: float = 16.0, gyro_range_dps: float = 2000.0,
                 ble: bool = False):
        channels = tuple(channels)
        if set(channels) not in (set(CHANNELS), set(CHANNELS[:3]), set(CHANNELS[3:])):
            raise ValueError("witmotion channels: all six, or the acc triple, or the gyro triple")
        self.channels = tuple(c for c in CHANNELS if c in channels)
        self.use_acc = any(c.startswith("acc") for c in self.channels)
        self.use_gyro = any(c.startswith("gyro") for c in self.channels)
        self.acc_scale = acc_range_g / 32768.0 * STANDARD_GRAVITY
        self.gyro_scale = gyro_range_dps / 32768.0 * math.pi / 180.0
        self.ble = ble
        self.buf = bytearray()
        self.acc: list[float] | None = None
        self._synced = True
        self._blocks = Blocks(self.channels)
        self.stats = {"packets": 0, "samples": 0, "corrupt": 0, "garbage_bytes": 0, "lost": 0, "skipped": 0,
                      "other": 0, "last_error": None}

    def _lose_sync(self, why: str):
        """One corrupt event per loss of sync, however many bytes it takes to resync."""
        if self._synced:
            self._synced = False
            self.stats["corrupt"] += 1
        self.stats["last_error"] = why

    def _emit(self, row):
        self._blocks.add(row, None)
        self.stats["samples"] += 1

    def _lost(self, n=1):
        self.stats["lost"] += n
        self._blocks.gap(n)

    def _imu(self, kind: int, words):
        if kind == WIT_ACC:
            xyz = [w * self.acc_scale for w in words[:3]]
            if not self.use_gyro:
                return self._emit(xyz)
            if self.acc is not None:  # previous acc never got its rate packet
                self._lost()
            self.acc = xyz
        else:
            xyz = [w * self.gyro_scale for w in words[:3]]
            if not self.use_acc:
                return self._emit(xyz)
            if self.acc is None:  # rate packet whose acc packet was lost
                return self._lost()
            self._emit(self.acc + xyz)
            self.acc = None

    def _feed_ble(self, chunk: bytes):
        st = self.stats
        data = bytes(chunk)
        i = 0
        while i + WIT_BLE_PACKET_LEN <= len(data):
            if data[i] == WIT_HEADER and data[i + 1] == WIT_BLE_COMBINED:
                w = np.frombuffer(data, "<i2", 9, i + 2).astype(np.float64)
                st["packets"] += 1
                row = []
                if self.use_acc:
                    row += (w[:3] * self.acc_scale).tolist()
                if self.use_gyro:
                    row += (w[3:6] * self.gyro_scale).tolist()
                self._emit(row)
                i += WIT_BLE_PACKET_LEN
            elif data[i] == WIT_HEADER and i + 1 < len(data) and data[i + 1] == 0x71:
                st["packets"] += 1
                st["other"] += 1
                i += WIT_BLE_PACKET_LEN
            else:
                st["corrupt"] += 1
                st["last_error"] = f"notification does not start with 55 61: {data[i:i + 4].hex()}"
                self._blocks.gap(0)
                return
        if i < len(data):
            st["garbage_bytes"] += len(data) - i

    def feed(self, chunk: bytes) -> list[SampleBlock]:
        if self.ble:
            self._feed_ble(chunk)
            return self._blocks.take()
        st = self.stats
        buf = self.buf
        buf += chunk
        i = 0
        n = len(buf)
        while i + WIT_PACKET_LEN <= n:
            if buf[i] != WIT_HEADER or not 0x50 <= buf[i + 1] <= 0x5F:
                j = buf.find(WIT_HEADER, i + 1)
                j = n if j < 0 else j
                self._lose_sync(f"{j - i} bytes that start no packet: {bytes(buf[i:min(j, i + 12)]).hex()}")
                st["garbage_bytes"] += j - i
                i = j
                continue
            if sum(buf[i:i + 10]) & 0xFF != buf[i + 10]:
                self._lose_sync(f"checksum mismatch in {bytes(buf[i:i + 11]).hex()}")
                st["garbage_bytes"] += 1
                i += 1
                continue
            kind = buf[i + 1]
            self._synced = True
            st["packets"] += 1
            if kind in (WIT_ACC, WIT_GYRO):
                self._imu(kind, np.frombuffer(bytes(buf[i + 2:i + 10]), "<i2").astype(np.float64).tolist())
            else:
                st["other"] += 1
            i += WIT_PACKET_LEN
        del buf[:i]
        return self._blocks.take()
