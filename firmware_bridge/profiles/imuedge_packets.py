"""The imuedge binary protocol (``PROTOCOL.md``) as a stream profile: over serial (COBS frames) and over BLE
(one packet per notification)."""
from __future__ import annotations

from collections import Counter
from typing import Callable

import numpy as np

from imuedge.firmware_bridge import protocol as P

from .blocks import SampleBlock


class _ImuedgePackets:
    """Shared by the serial and BLE imuedge profiles: packets -> SampleBlocks.

    stats keys: ``packets`` (decoded, any type), ``data_packets``, ``control_packets``,
    ``samples``, ``corrupt`` (bad frames/notifications), ``errors`` (ProtocolError class
    name -> count), ``lost`` (packets missing by sequence number), ``out_of_order``,
    ``overflow`` (samples the device dropped, from DATA overflow_count), ``skipped``
    (packets that are neither data nor known control: always 0 in v1.0 as decoding fails
    first), ``last_error`` (message of the last error or None). A DATA packet that decodes
    but whose scales give non-finite samples (NaN/inf scale) is counted as corrupt with
    class ``NonFiniteError`` and dropped; the next block then reports it in ``lost_packets``.

    Non-data packets (ACK, DEVICE_INFO, COMMAND echoes) go to ``self.control`` (a list the
    caller may drain) and to ``on_control(packet)`` if given. A sequence number going
    backwards (``out_of_order``: duplicate, reordering, device reboot) also re-syncs the
    timestamp unwrapper, so ``device_time_us`` may restart there.  Sequence numbers are shared
    by all packet types of a device, so a lost ACK also counts as a lost packet, and the
    next DATA block carries it in ``lost_packets``.
    """

    def __init__(self, on_control: Callable[[P.Packet], None] | None = None, keep_control: int = 1000):
        self.on_control = on_control
        self.keep_control = keep_control
        self.control: list[P.Packet] = []
        self.gaps = P.GapTracker()
        self.clock = P.TimestampUnwrapper()
        self._pending_lost = 0
        self._layout_key = None  # (channel mask, acc scale, gyro scale) of the last DATA packet, and its layout
        self._layout: tuple = ()
        self.stats = {"packets": 0, "data_packets": 0, "control_packets": 0, "samples": 0, "corrupt": 0,
                      "errors": Counter(), "lost": 0, "out_of_order": 0, "overflow": 0, "skipped": 0,
                      "last_error": None}

    def _error(self, name: str, message: str) -> None:
        self.stats["corrupt"] += 1
        self.stats["errors"][name] += 1
        self.stats["last_error"] = message

    def _packet(self, p: P.Packet) -> SampleBlock | None:
        st = self.stats
        st["packets"] += 1
        self._pending_lost += self.gaps.update(p.seq)
        if self.gaps.out_of_order != st["out_of_order"]:  # duplicate, reordering or a device reboot:
            self.clock = P.TimestampUnwrapper()           # re-sync the clock too, not a 2^32 jump
        st["lost"], st["out_of_order"] = self.gaps.lost, self.gaps.out_of_order
        if p.type != P.PacketType.DATA:
            st["control_packets"] += 1
            self.control.append(p)
            if len(self.control) > self.keep_control:
                del self.control[: len(self.control) - self.keep_control]
            if self.on_control is not None:
                self.on_control(p)
            return None
        channels, scales, always_finite = self._data_layout(p)
        if always_finite:
            data = p.samples.T.astype(np.float32) * scales  # = p.to_array(), finite whatever the counts
        else:  # a scale field that is NaN/inf, or so large that some counts overflow float32
            with np.errstate(over="ignore", invalid="ignore"):
                data = p.to_array()
            if not np.isfinite(data).all():
                self._error("NonFiniteError", f"DATA seq {p.seq}: scales {p.acc_scale!r}/{p.gyro_scale!r} "
                                              "give non-finite samples")
                self._pending_lost += 1
                return None
        st["data_packets"] += 1
        st["samples"] += p.n_samples
        st["overflow"] += p.overflow_count
        block = SampleBlock(data=data, channels=channels, device_time_us=self.clock.update(p.timestamp_us),
                            period_us=float(p.sample_period_us) if p.sample_period_us else None, seq=p.seq,
                            lost_packets=self._pending_lost, overflow=p.overflow_count)
        self._pending_lost = 0
        return block

    def _data_layout(self, p: P.DataPacket) -> tuple[tuple[str, ...], np.ndarray, bool]:
        """The packet's channels, its float32 ``(channels, 1)`` scales and whether every int16 count times
        them is finite; computed when the mask or a scale changes, not per packet (a device keeps them)."""
        key = (p.channel_mask, p.acc_scale, p.gyro_scale)
        if key != self._layout_key:
            scales = p.scales()[:, None]
            with np.errstate(over="ignore", invalid="ignore"):
                always_finite = bool(np.isfinite(scales * np.float32(-32768)).all())
            self._layout_key, self._layout = key, (p.channels, scales, always_finite)
        return self._layout


class ImuedgeSerialDecoder(_ImuedgePackets):
    """Profile ``imuedge``: COBS-framed imuedge packets from a serial port (any chunking)."""

    def __init__(self, on_control=None, keep_control: int = 1000):
        super().__init__(on_control, keep_control)
        self.frames = P.FrameDecoder()
        self._frame_errors: Counter = Counter()  # the frame decoder's errors already counted in stats

    def feed(self, chunk: bytes) -> list[SampleBlock]:
        corrupt = self.frames.corrupt
        packets = self.frames.feed(chunk)
        if self.frames.corrupt != corrupt:
            self.stats["corrupt"] += self.frames.corrupt - corrupt
            self.stats["errors"].update(self.frames.errors - self._frame_errors)
            self._frame_errors = Counter(self.frames.errors)
            self.stats["last_error"] = str(self.frames.last_error)
        return [b for b in map(self._packet, packets) if b is not None]


class ImuedgeBLEDecoder(_ImuedgePackets):
    """Profile ``imuedge-ble``: each ``feed(chunk)`` is exactly one GATT notification holding
    one packet (no COBS, no delimiter). A notification that fails to decode is counted."""

    def feed(self, chunk: bytes) -> list[SampleBlock]:
        try:
            p = P.decode_packet(bytes(chunk))
        except P.ProtocolError as e:
            self._error(type(e).__name__, str(e))
            return []
        b = self._packet(p)
        return [b] if b is not None else []
