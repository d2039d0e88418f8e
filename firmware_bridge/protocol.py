"""imuedge wire protocol v1.0 -- the one host-side codec.

The byte layout is specified in ``firmware_bridge/PROTOCOL.md``; this module,
the C firmware core (``firmware/core/fb_protocol.c``) and the test vectors in
``vectors/*.json`` implement/describe the same thing.

Public API::

    encode_data(DataPacket) / encode_command(CommandPacket) / encode_ack(AckPacket)
    encode_device_info(DeviceInfoPacket) / encode_packet(any packet) -> bytes
    decode_packet(bytes) -> Packet            # raises a ProtocolError subclass
    cobs_encode(bytes) -> bytes / cobs_decode(bytes) -> bytes
    frame(packet_bytes) -> bytes              # COBS + 0x00 delimiter (serial)
    FrameDecoder().feed(bytes) -> list[Packet]
    GapTracker().update(seq) -> int           # lost packets before this one
    TimestampUnwrapper().update(u32) -> int   # device µs, 64-bit
    DataPacket.to_array() -> float32 (channels, samples) in m/s^2 / rad/s
    max_samples_per_packet(n_channels, mtu=None)
"""
from __future__ import annotations

import binascii
import struct
from collections import Counter
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag

import numpy as np

from imuedge.window import CHANNELS

# --------------------------------------------------------------------------- constants
MAGIC = b"IE"  # 0x49 0x45
VERSION_MAJOR = 1
VERSION_MINOR = 0
COMMON_HEADER_LEN = 10
DATA_HEADER_LEN = 32
CRC_LEN = 2
MIN_PACKET_LEN = COMMON_HEADER_LEN + CRC_LEN
MAX_SAMPLES = 255
MAX_PAYLOAD_LEN = MAX_SAMPLES * len(CHANNELS) * 2
MAX_PACKET_LEN = 255 + 0xFFFF + CRC_LEN  # what the length fields can express
BLE_ATT_OVERHEAD = 3  # ATT opcode + handle in a notification
BLE_MAX_ATTRIBUTE_LEN = 512  # the longest attribute value ATT carries, at any MTU
CHANNEL_MASK_ALL = 0x3F

_COMMON = struct.Struct("<2sBBBBHH")  # magic, major, minor, type, header_len, seq, payload_len
_DATA_EXT = struct.Struct("<IIffHBBBB")  # ts, period, acc_scale, gyro_scale, overflow, n, mask, flags, reserved
_ACK = struct.Struct("<BBHI")  # command, status, acked_seq, value
_INFO = struct.Struct("<BBBBHIffBB")  # supported, active, acc_range_g, state, gyro_dps, period, acc_s, gyro_s, max_n, name_len
if _COMMON.size != COMMON_HEADER_LEN or COMMON_HEADER_LEN + _DATA_EXT.size != DATA_HEADER_LEN:  # kept under -O
    raise ImportError(f"protocol.py: the header structs ({_COMMON.size} + {_DATA_EXT.size} bytes) disagree with "
                      f"PROTOCOL.md ({COMMON_HEADER_LEN}, {DATA_HEADER_LEN})")


class PacketType(IntEnum):
    DATA = 1
    COMMAND = 2
    ACK = 3
    DEVICE_INFO = 4


class Command(IntEnum):
    START = 1
    STOP = 2
    SET_RATE = 3  # arg: u16 rate_hz
    SET_RANGES = 4  # args: u8 acc_range_g, u16 gyro_range_dps
    GET_INFO = 5  # answered by a DEVICE_INFO packet, then the ACK
    SET_CHANNELS = 6  # arg: u8 channel mask


class AckStatus(IntEnum):
    OK = 0
    UNKNOWN_COMMAND = 1
    BAD_ARGUMENT = 2
    BAD_STATE = 3
    UNSUPPORTED = 4
    BAD_PACKET = 5  # the command frame failed to decode (CRC, length...)


class DataFlags(IntFlag):
    OVERFLOW = 0x01  # samples were dropped before this packet; see overflow_count
    CLIPPED = 0x02  # at least one sample is at the int16 limit (sensor range exceeded)
    STARTED = 0x04  # first data packet after a START
    CONFIG_CHANGED = 0x08  # rate/range/channels changed since the previous data packet


_CMD_ARGS = {  # command -> struct of its arguments after the command byte
    Command.START: struct.Struct("<"), Command.STOP: struct.Struct("<"),
    Command.GET_INFO: struct.Struct("<"), Command.SET_RATE: struct.Struct("<H"),
    Command.SET_RANGES: struct.Struct("<BH"), Command.SET_CHANNELS: struct.Struct("<B"),
}


# --------------------------------------------------------------------------- errors
class ProtocolError(ValueError):
    """A packet or frame that cannot be decoded. Subclasses name the cause."""


class TruncatedError(ProtocolError):
    """Fewer bytes than the header says (or than the minimum packet)."""


class MagicError(ProtocolError):
    """The packet does not start with b'IE'."""


class CRCError(ProtocolError):
    """CRC-16/CCITT-FALSE over header+payload does not match."""


class VersionError(ProtocolError):
    """A newer MAJOR protocol version: this host cannot decode it."""


class LengthError(ProtocolError):
    """Length fields inconsistent with each other or with the packet size."""


class UnknownTypeError(ProtocolError):
    """Packet type (or command) this version does not know."""


class FieldError(ProtocolError):
    """A field holds a value the spec forbids (e.g. reserved channel-mask bits)."""


class COBSError(ProtocolError):
    """A serial frame that is not valid COBS."""


class OversizeError(ProtocolError):
    """A serial frame longer than any valid packet (lost delimiter)."""


# --------------------------------------------------------------------------- CRC / COBS
def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0; check('123456789') = 0x29B1."""
    return binascii.crc_hqx(data, crc)


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing (Cheshire & Baker 1999); the result has no 0x00 byte."""
    out = bytearray()
    for chunk in bytes(data).split(b"\x00"):
        while len(chunk) >= 254:
            out.append(0xFF)
            out += chunk[:254]
            chunk = chunk[254:]
        out.append(len(chunk) + 1)
        out += chunk
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of cobs_encode (without the 0x00 delimiter); raises COBSError."""
    data = bytes(data)
    if data and 0 not in data:  # the usual frame: no delimiter inside, every code byte < 0xFF
        out = _cobs_decode_short(data)
        if out is not None:
            return out
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise COBSError(f"COBS: 0x00 byte inside a frame at offset {i}")
        j = i + code
        if j > n:
            raise COBSError(f"COBS: code 0x{code:02x} at offset {i} runs past the frame end ({n} bytes)")
        block = data[i + 1:j]
        if 0 in block:
            raise COBSError(f"COBS: 0x00 byte inside a frame at offset {i + 1 + block.index(0)}")
        out += block
        i = j
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def _cobs_decode_short(data: bytes) -> bytes | None:
    """cobs_decode of a non-empty frame without 0x00 whose code bytes are all < 0xFF (every packet up to 253
    bytes): each code byte after the first becomes the 0x00 it stands for, in place. None when a code is 0xFF
    or runs past the end (cobs_decode's general loop then decodes it or names the error)."""
    out = bytearray(data)
    n, i = len(data), 0
    while True:
        code = data[i]
        if code == 0xFF:
            return None
        i += code
        if i >= n:
            return bytes(out[1:]) if i == n else None
        out[i] = 0


def frame(packet: bytes) -> bytes:
    """Serial framing: COBS(packet) followed by the 0x00 delimiter."""
    return cobs_encode(packet) + b"\x00"


# --------------------------------------------------------------------------- packets
def mask_to_channels(mask: int) -> tuple[str, ...]:
    return tuple(c for i, c in enumerate(CHANNELS) if mask >> i & 1)


def channels_to_mask(channels) -> int:
    mask = 0
    for c in channels:
        mask |= 1 << CHANNELS.index(c)
    return mask


def quantize(data, channels, acc_scale: float, gyro_scale: float) -> np.ndarray:
    """float ``(channels, n)`` in physical units -> int16 ``(n, channels)`` counts, a DataPacket's ``samples``:
    count = floor(x / scale + 0.5) clipped to int16 (the firmware's rounding), with the float32 scale of each
    channel's group. ``DataPacket.to_array`` is its inverse up to that rounding."""
    scale = np.array([_f32(acc_scale) if c.startswith("acc") else _f32(gyro_scale) for c in channels], np.float64)
    counts = np.floor(np.asarray(data, np.float64) / scale[:, None] + 0.5)
    return np.clip(counts, -32768, 32767).astype(np.int16).T.copy()


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


@dataclass(frozen=True, eq=False)
class DataPacket:
    """Samples from the device. ``samples`` is int16 ``(n_samples, n_channels)``."""

    seq: int
    timestamp_us: int  # device time of the first sample, µs, u32 (wraps every 71.6 min)
    sample_period_us: int
    channel_mask: int
    acc_scale: float  # m/s^2 per count (float32 on the wire)
    gyro_scale: float  # rad/s per count
    samples: np.ndarray
    flags: int = 0
    overflow_count: int = 0  # samples dropped by the device since the previous data packet
    version: tuple[int, int] = (VERSION_MAJOR, VERSION_MINOR)

    type = PacketType.DATA

    def __post_init__(self):
        s = np.asarray(self.samples, dtype=np.int16)
        if s.ndim == 1:
            s = s.reshape(-1, max(1, bin(self.channel_mask).count("1")))
        object.__setattr__(self, "samples", s)

    @property
    def channels(self) -> tuple[str, ...]:
        return mask_to_channels(self.channel_mask)

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[0])

    def scales(self) -> np.ndarray:
        """float32 per-channel scale, in the packet's channel order."""
        return np.array([self.acc_scale if c.startswith("acc") else self.gyro_scale for c in self.channels],
                        dtype=np.float32)

    def to_array(self) -> np.ndarray:
        """float32 ``(channels, samples)`` in physical units (the window contract)."""
        return self.samples.T.astype(np.float32) * self.scales()[:, None]

    def __eq__(self, other):
        if not isinstance(other, DataPacket):
            return NotImplemented
        return (self.seq, self.timestamp_us, self.sample_period_us, self.channel_mask, _f32(self.acc_scale),
                _f32(self.gyro_scale), self.flags, self.overflow_count) == (
            other.seq, other.timestamp_us, other.sample_period_us, other.channel_mask, _f32(other.acc_scale),
            _f32(other.gyro_scale), other.flags, other.overflow_count) and np.array_equal(self.samples, other.samples)


@dataclass(frozen=True)
class CommandPacket:
    """Host -> device. Only the arguments of ``command`` are used."""

    seq: int
    command: int
    rate_hz: int = 0
    acc_range_g: int = 0
    gyro_range_dps: int = 0
    channel_mask: int = 0
    version: tuple[int, int] = (VERSION_MAJOR, VERSION_MINOR)

    type = PacketType.COMMAND


@dataclass(frozen=True)
class AckPacket:
    """Device -> host: the outcome of the command with sequence number ``acked_seq``."""

    seq: int
    acked_seq: int
    command: int
    status: int
    value: int = 0  # command-specific: SET_RATE -> actual period µs; SET_CHANNELS -> mask
    version: tuple[int, int] = (VERSION_MAJOR, VERSION_MINOR)

    type = PacketType.ACK


@dataclass(frozen=True)
class DeviceInfoPacket:
    seq: int
    supported_mask: int
    active_mask: int
    acc_range_g: int
    gyro_range_dps: int
    streaming: bool
    sample_period_us: int
    acc_scale: float
    gyro_scale: float
    max_samples_per_packet: int
    name: str
    version: tuple[int, int] = (VERSION_MAJOR, VERSION_MINOR)

    type = PacketType.DEVICE_INFO

    def __eq__(self, other):
        if not isinstance(other, DeviceInfoPacket):
            return NotImplemented
        a = (self.seq, self.supported_mask, self.active_mask, self.acc_range_g, self.gyro_range_dps,
             bool(self.streaming), self.sample_period_us, _f32(self.acc_scale), _f32(self.gyro_scale),
             self.max_samples_per_packet, self.name)
        b = (other.seq, other.supported_mask, other.active_mask, other.acc_range_g, other.gyro_range_dps,
             bool(other.streaming), other.sample_period_us, _f32(other.acc_scale), _f32(other.gyro_scale),
             other.max_samples_per_packet, other.name)
        return a == b


Packet = DataPacket | CommandPacket | AckPacket | DeviceInfoPacket


# --------------------------------------------------------------------------- encoding
def _finish(ptype: int, seq: int, ext: bytes, payload: bytes, version=(VERSION_MAJOR, VERSION_MINOR)) -> bytes:
    header_len = COMMON_HEADER_LEN + len(ext)
    if header_len > 255 or len(payload) > 0xFFFF:
        raise LengthError("header or payload too long")
    body = _COMMON.pack(MAGIC, version[0], version[1], int(ptype), header_len, seq & 0xFFFF, len(payload)) + ext + payload
    return body + struct.pack("<H", crc16(body))


def encode_data(p: DataPacket) -> bytes:
    nch = bin(p.channel_mask).count("1")
    if p.channel_mask & ~CHANNEL_MASK_ALL or nch == 0:
        raise FieldError(f"channel mask 0x{p.channel_mask:02x}: bits 0..5 only, at least one")
    s = np.ascontiguousarray(p.samples, dtype="<i2")
    if s.ndim != 2 or s.shape[1] != nch or not 1 <= s.shape[0] <= MAX_SAMPLES:
        raise LengthError(f"samples shape {s.shape} does not fit mask 0x{p.channel_mask:02x} (1..255 samples)")
    ext = _DATA_EXT.pack(p.timestamp_us & 0xFFFFFFFF, p.sample_period_us, p.acc_scale, p.gyro_scale,
                         min(p.overflow_count, 0xFFFF), s.shape[0], p.channel_mask, int(p.flags), 0)
    return _finish(PacketType.DATA, p.seq, ext, s.tobytes(), p.version)


def encode_command(p: CommandPacket) -> bytes:
    cmd = Command(p.command)
    args = {Command.SET_RATE: (p.rate_hz,), Command.SET_RANGES: (p.acc_range_g, p.gyro_range_dps),
            Command.SET_CHANNELS: (p.channel_mask,)}.get(cmd, ())
    return _finish(PacketType.COMMAND, p.seq, b"", bytes([cmd]) + _CMD_ARGS[cmd].pack(*args), p.version)


def encode_ack(p: AckPacket) -> bytes:
    return _finish(PacketType.ACK, p.seq, b"", _ACK.pack(p.command, p.status, p.acked_seq & 0xFFFF, p.value),
                   p.version)


def encode_device_info(p: DeviceInfoPacket) -> bytes:
    name = p.name.encode("utf-8")
    if len(name) > 32:
        raise FieldError("device name longer than 32 bytes")
    payload = _INFO.pack(p.supported_mask, p.active_mask, p.acc_range_g, 1 if p.streaming else 0,
                         p.gyro_range_dps, p.sample_period_us, p.acc_scale, p.gyro_scale,
                         p.max_samples_per_packet, len(name)) + name
    return _finish(PacketType.DEVICE_INFO, p.seq, b"", payload, p.version)


def encode_packet(p: Packet) -> bytes:
    return {DataPacket: encode_data, CommandPacket: encode_command, AckPacket: encode_ack,
            DeviceInfoPacket: encode_device_info}[type(p)](p)


# --------------------------------------------------------------------------- decoding
def decode_packet(buf: bytes) -> Packet:
    """Decode one packet (no COBS). Checks, in order: size, magic, CRC, major version, lengths, fields."""
    buf = bytes(buf)
    n = len(buf)
    if n < MIN_PACKET_LEN:
        raise TruncatedError(f"packet of {n} bytes is shorter than the {MIN_PACKET_LEN}-byte minimum")
    if buf[:2] != MAGIC:
        raise MagicError(f"bad magic {buf[:2].hex()} (expected {MAGIC.hex()} 'IE')")
    want, got = crc16(buf[:-CRC_LEN]), buf[-2] | buf[-1] << 8
    if want != got:
        raise CRCError(f"CRC mismatch: packet says 0x{got:04x}, CRC-16/CCITT-FALSE of its {n - 2} bytes is 0x{want:04x}")
    _, major, minor, ptype, header_len, seq, payload_len = _COMMON.unpack_from(buf)
    if major != VERSION_MAJOR:
        raise VersionError(f"packet is protocol v{major}.{minor}; this host decodes v{VERSION_MAJOR}.x only "
                           f"({'upgrade imuedge' if major > VERSION_MAJOR else 'the device firmware is too old'})")
    if header_len < COMMON_HEADER_LEN:
        raise LengthError(f"header_len {header_len} < {COMMON_HEADER_LEN}")
    total = header_len + payload_len + CRC_LEN
    if total > n:
        raise TruncatedError(f"header says {total} bytes (header {header_len} + payload {payload_len} + CRC), got {n}")
    if total < n:
        raise LengthError(f"header says {total} bytes (header {header_len} + payload {payload_len} + CRC), got {n}")
    version = (major, minor)
    payload = buf[header_len:header_len + payload_len]
    if ptype == PacketType.DATA:
        if header_len < DATA_HEADER_LEN:
            raise LengthError(f"data packet header_len {header_len} < {DATA_HEADER_LEN}")
        ts, period, acc_s, gyro_s, overflow, ns, mask, flags, _ = _DATA_EXT.unpack_from(buf, COMMON_HEADER_LEN)
        if mask & ~CHANNEL_MASK_ALL or mask == 0:
            raise FieldError(f"channel mask 0x{mask:02x}: only bits 0..5 may be set, at least one")
        nch = bin(mask).count("1")
        if ns == 0 or payload_len != ns * nch * 2:
            raise LengthError(f"payload_len {payload_len} != {ns} samples x {nch} channels x 2 bytes")
        samples = np.frombuffer(payload, dtype="<i2").reshape(ns, nch).astype(np.int16)
        return DataPacket(seq, ts, period, mask, acc_s, gyro_s, samples, flags, overflow, version)
    if ptype == PacketType.COMMAND:
        if payload_len < 1:
            raise LengthError("command packet without a command byte")
        try:
            cmd = Command(payload[0])
        except ValueError:
            raise UnknownTypeError(f"unknown command 0x{payload[0]:02x}") from None
        st = _CMD_ARGS[cmd]
        if payload_len < 1 + st.size:
            raise LengthError(f"command {cmd.name} needs {st.size} argument bytes, got {payload_len - 1}")
        args = st.unpack_from(payload, 1)
        kw = {Command.SET_RATE: ("rate_hz",), Command.SET_RANGES: ("acc_range_g", "gyro_range_dps"),
              Command.SET_CHANNELS: ("channel_mask",)}.get(cmd, ())
        return CommandPacket(seq, cmd, version=version, **dict(zip(kw, args)))
    if ptype == PacketType.ACK:
        if payload_len < _ACK.size:
            raise LengthError(f"ack payload {payload_len} bytes < {_ACK.size}")
        cmd, status, acked, value = _ACK.unpack_from(payload)
        return AckPacket(seq, acked, cmd, status, value, version)
    if ptype == PacketType.DEVICE_INFO:
        if payload_len < _INFO.size:
            raise LengthError(f"device info payload {payload_len} bytes < {_INFO.size}")
        sup, act, acc_g, state, gyro_dps, period, acc_s, gyro_s, max_n, name_len = _INFO.unpack_from(payload)
        if name_len > 32:
            raise FieldError(f"device name_len {name_len} > 32")
        if _INFO.size + name_len > payload_len:
            raise LengthError(f"device name of {name_len} bytes runs past the payload")
        name = payload[_INFO.size:_INFO.size + name_len].decode("utf-8", errors="replace")
        return DeviceInfoPacket(seq, sup, act, acc_g, gyro_dps, bool(state & 1), period, acc_s, gyro_s, max_n,
                                name, version)
    raise UnknownTypeError(f"unknown packet type {ptype} (protocol v{major}.{minor})")


def max_samples_per_packet(n_channels: int, mtu: int | None = None) -> int:
    """Largest sample count per data packet; with ``mtu`` (negotiated BLE ATT MTU), what fits one notification."""
    if mtu is None:
        return MAX_SAMPLES
    # An attribute value is at most 512 bytes (Core spec Vol 3 Part F 3.2.9), whatever the MTU.
    room = min(mtu - BLE_ATT_OVERHEAD, BLE_MAX_ATTRIBUTE_LEN) - DATA_HEADER_LEN - CRC_LEN
    return max(0, min(MAX_SAMPLES, room // (2 * n_channels)))


# --------------------------------------------------------------------------- streaming
def _max_frame_len() -> int:
    longest = DATA_HEADER_LEN + MAX_PAYLOAD_LEN + CRC_LEN + 255  # generous: newer minor headers
    return longest + longest // 254 + 2


@dataclass
class FrameDecoder:
    """Turns a serial byte stream (COBS frames, 0x00-delimited) into packets.

    A corrupt frame is counted (``corrupt``, ``errors[ErrorClassName]``) and skipped;
    decoding resumes at the next 0x00, so the packet after a bad one is never lost.
    A good frame glued behind garbage with no 0x00 between (noise at connect, a
    lost delimiter) is recovered too: the garbage counts as one corrupt frame.
    Empty frames (consecutive 0x00) are padding and ignored.
    """

    max_frame_len: int = field(default_factory=_max_frame_len)
    packets: int = 0
    corrupt: int = 0
    errors: Counter = field(default_factory=Counter)
    last_error: ProtocolError | None = None
    _buf: bytearray = field(default_factory=bytearray)
    _skipping: bool = False

    def feed(self, data: bytes) -> list[Packet]:
        out: list[Packet] = []
        data = bytes(data)
        start = 0
        while True:
            end = data.find(b"\x00", start)
            if end < 0:
                rest = data[start:]
                if not self._skipping:
                    self._buf += rest
                    if len(self._buf) > self.max_frame_len:
                        self._error(OversizeError(f"frame longer than {self.max_frame_len} bytes without a delimiter"))
                        self._buf.clear()
                        self._skipping = True
                return out
            chunk = data[start:end]
            start = end + 1
            if self._skipping:  # the rest of an oversize frame: already counted
                self._skipping = False
                self._buf.clear()
                continue
            if self._buf:
                self._buf += chunk
                chunk = bytes(self._buf)
                self._buf.clear()
            if not chunk:
                continue
            if len(chunk) > self.max_frame_len:
                self._error(OversizeError(f"frame of {len(chunk)} bytes is longer than any packet"))
                continue
            try:
                out.append(decode_packet(cobs_decode(chunk)))
                self.packets += 1
            except ProtocolError as e:
                self._error(e)
                tail = self._recover(chunk)
                if tail is not None:
                    out.append(tail)
                    self.packets += 1

    @staticmethod
    def _recover(chunk: bytes) -> Packet | None:
        """A bad frame may be garbage (line noise, a lost delimiter) glued in front of a
        whole good frame. A frame's COBS form starts with its code byte then b'IE', so try
        each such suffix; only a suffix passing every check (CRC included) is kept."""
        i = chunk.find(MAGIC, 2)
        while i >= 0:
            try:
                return decode_packet(cobs_decode(chunk[i - 1:]))
            except ProtocolError:
                i = chunk.find(MAGIC, i + 1)
        return None

    def _error(self, e: ProtocolError) -> None:
        self.corrupt += 1
        self.errors[type(e).__name__] += 1
        self.last_error = e


@dataclass
class GapTracker:
    """Detects lost packets from u16 sequence numbers (65535 -> 0 is not a gap).

    ``update(seq)`` returns how many packets were lost just before this one.
    A sequence number that goes backwards (duplicate, reordering, device reboot)
    is counted in ``out_of_order`` and the tracker re-synchronises on it.
    """

    expected: int | None = None
    received: int = 0
    lost: int = 0
    out_of_order: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (first missing seq, count)

    def update(self, seq: int) -> int:
        seq &= 0xFFFF
        self.received += 1
        gap = 0
        if self.expected is not None:
            delta = (seq - self.expected) & 0xFFFF
            if delta >= 0x8000:
                self.out_of_order += 1
            elif delta:
                gap = delta
                self.lost += delta
                self.gaps.append((self.expected, delta))
        self.expected = (seq + 1) & 0xFFFF
        return gap


@dataclass
class TimestampUnwrapper:
    """Extends an unsigned 32-bit device counter (the packets' µs timestamp, Arduino millis()/micros()) to 64
    bits; valid while readings are less than half its range apart (35 min of µs).

    A backward jump of more than half the range is a wrap (+2^32). A smaller one is the device restarting its
    clock: time restarts there, counted in ``resets``. A counter past 2^32 - 1 is not 32-bit and never wraps.
    """

    last: int | None = None
    offset: int = 0
    resets: int = 0

    def update(self, ts: int) -> int:
        if self.last is not None and ts < self.last:
            if self.last - ts > 0x80000000 and self.last <= 0xFFFFFFFF:
                self.offset += 1 << 32
            else:
                self.resets += 1
        self.last = ts
        return self.offset + ts
