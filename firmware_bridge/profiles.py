"""Stream profiles: byte stream from a device -> blocks of samples in physical units.

One decoder per wire format, all with the same shape::

    dec = decoder_for("imuedge")            # or "imuedge-ble", "text", "sensorserver", "witmotion", ...
    for chunk in chunks:                     # bytes as they arrive (any split)
        for block in dec.feed(chunk):        # list[SampleBlock]
            block.data                       # float32 (channels, n), m/s^2 and rad/s
    dec.stats                                # counters, see each class

Profiles (details and units: ``firmware_bridge/README.md``, "Stream profiles"):

``imuedge``       the imuedge binary protocol over serial (COBS frames, PROTOCOL.md)
``imuedge-ble``   the imuedge protocol over BLE: each ``feed`` is ONE notification = one packet
``text``          lines of comma/space/tab-separated numbers (Arduino/ESP32 sketches, the
                  Edge Impulse data-forwarder convention), optional leading timestamp column
``sensorserver``  JSON messages of the Android app SensorServer (WebSocket), one per sensor event
``witmotion``     WitMotion WT901-family serial output: 11-byte 0x55-framed packets with checksum
``witmotion-ble`` WitMotion BLE modules (WT901BLECL/BWT901BLE): 20-byte 0x55 0x61 combined packets

Every ``stats`` dict has at least the keys ``packets`` (units decoded: packets, lines or
messages), ``samples``, ``corrupt``, ``lost`` and ``skipped``; the rest is per profile.
A decoder never raises on bad input: bad input is counted and skipped.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from imuedge.firmware_bridge import protocol as P
from imuedge.window import ACC_UNITS, CHANNELS, GYRO_UNITS, STANDARD_GRAVITY

__all__ = ["SampleBlock", "StreamDecoder", "decoder_for", "PROFILES", "ImuedgeSerialDecoder",
           "ImuedgeBLEDecoder", "TextLineDecoder", "SensorServerDecoder", "WitMotionDecoder"]

_F32_MAX = float(np.finfo(np.float32).max) / 1e3  # larger values are not sensor readings (and overflow float32)
MAX_BAD_LINES = 20  # how many malformed lines/messages each decoder keeps for the report


@dataclass
class SampleBlock:
    data: np.ndarray            # float32 (channels, n) in m/s^2 and rad/s
    channels: tuple[str, ...]
    device_time_us: int | None  # device timestamp of the first sample (unwrapped); None if the format has none
    period_us: float | None     # device sample period, if the format says
    seq: int | None
    lost_packets: int = 0       # packets lost right before this block (sequence gap)
    overflow: int = 0           # samples the device itself dropped (reported in-stream)
    # Extension (optional): per-sample device times, int64 µs, for formats that stamp every
    # sample (text with a timestamp column, sensorserver); None otherwise.
    timestamps_us: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[1])


@runtime_checkable
class StreamDecoder(Protocol):
    stats: dict

    def feed(self, chunk: bytes) -> list[SampleBlock]: ...


# --------------------------------------------------------------------------- imuedge
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
        with np.errstate(over="ignore", invalid="ignore"):
            data = p.to_array()
        if not np.isfinite(data).all():  # a scale field that is NaN/inf or overflows float32
            self._error("NonFiniteError", f"DATA seq {p.seq}: scales {p.acc_scale!r}/{p.gyro_scale!r} "
                                          "give non-finite samples")
            self._pending_lost += 1
            return None
        st["data_packets"] += 1
        st["samples"] += p.n_samples
        st["overflow"] += p.overflow_count
        block = SampleBlock(data=data, channels=p.channels, device_time_us=self.clock.update(p.timestamp_us),
                            period_us=float(p.sample_period_us) if p.sample_period_us else None, seq=p.seq,
                            lost_packets=self._pending_lost, overflow=p.overflow_count)
        self._pending_lost = 0
        return block


class ImuedgeSerialDecoder(_ImuedgePackets):
    """Profile ``imuedge``: COBS-framed imuedge packets from a serial port (any chunking)."""

    def __init__(self, on_control=None, keep_control: int = 1000):
        super().__init__(on_control, keep_control)
        self.frames = P.FrameDecoder()

    def feed(self, chunk: bytes) -> list[SampleBlock]:
        corrupt, errors = self.frames.corrupt, Counter(self.frames.errors)
        packets = self.frames.feed(chunk)
        if self.frames.corrupt != corrupt:
            self.stats["corrupt"] += self.frames.corrupt - corrupt
            self.stats["errors"].update(self.frames.errors - errors)
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


# --------------------------------------------------------------------------- line helpers
class _LineBuffer:
    """Splits a byte stream into lines (LF or CRLF); a line longer than ``max_line`` bytes
    (binary noise, wrong baud rate) is dropped and reported as one overlong line."""

    def __init__(self, max_line: int = 4096):
        self.max_line = max_line
        self.buf = bytearray()
        self.overlong = False

    def feed(self, chunk: bytes):
        """Yields (line: str | None, overlong: bool)."""
        self.buf += chunk
        while True:
            i = self.buf.find(b"\n")
            if i < 0:
                if len(self.buf) > self.max_line:
                    self.buf.clear()
                    if not self.overlong:
                        self.overlong = True
                        yield None, True
                return
            raw = bytes(self.buf[:i])
            del self.buf[: i + 1]
            if self.overlong:  # the end of a line already reported
                self.overlong = False
                continue
            if len(raw) > self.max_line:
                yield None, True
                continue
            yield raw.rstrip(b"\r").decode("utf-8", errors="replace"), False


def _unit_factor(table: dict, unit: str, what: str) -> float:
    try:
        return table[unit]
    except KeyError:
        raise ValueError(f"{what} unit {unit!r}: expected one of {sorted(table)}") from None


_TIME_UNITS = {"s": 1e6, "ms": 1e3, "us": 1.0, "ns": 1e-3}


class _Blocks:
    """Accumulates single samples into one SampleBlock per ``feed`` call; a lost/corrupt
    unit in between splits the block (so a gap is never glued)."""

    def __init__(self, channels: tuple[str, ...]):
        self.channels = channels
        self.rows: list[list[float]] = []
        self.times: list[int] = []
        self.lost = 0
        self.out: list[SampleBlock] = []

    def add(self, row, t_us: int | None):
        self.rows.append(row)
        if t_us is not None:
            self.times.append(t_us)

    def gap(self, n: int = 1):
        self.flush()
        self.lost += n

    def flush(self):
        if not self.rows:
            return
        data = np.asarray(self.rows, dtype=np.float64).T.astype(np.float32)
        times = np.asarray(self.times, dtype=np.int64) if len(self.times) == len(self.rows) else None
        period = None  # these formats stamp samples (timestamps_us) but do not state a period
        self.out.append(SampleBlock(data=data, channels=self.channels,
                                    device_time_us=int(times[0]) if times is not None else None,
                                    period_us=period, seq=None, lost_packets=self.lost, timestamps_us=times))
        self.rows, self.times, self.lost = [], [], 0

    def take(self) -> list[SampleBlock]:
        self.flush()
        out, self.out = self.out, []
        return out


# --------------------------------------------------------------------------- text
_NUM = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_SPLIT = re.compile(r"[,;\s]+")
_LABELLED = re.compile(r"^[A-Za-z_][\w.]*\s*[:=]\s*(\S+)$")
_LABEL_SPLIT = re.compile(r"[,;\t]+|\s+(?=[A-Za-z_][\w.]*\s*[:=])")


class TextLineDecoder:
    """Profile ``text``: one sample per line, numbers separated by commas, semicolons,
    spaces or tabs (what ``Serial.print(ax); Serial.print(','); ...; Serial.println(gz)``
    sketches print and Edge Impulse's data forwarder reads). Arduino serial-plotter style
    ``ax:0.1,ay:0.2,...`` labels are accepted (the labels are ignored, order counts).

    Options:
      channels   names in column order (default: inferred from the first data line:
                 3 values -> acc_x..acc_z, 6 -> acc_x..gyro_z); any subset of CHANNELS,
                 in any order (columns are reordered to the canonical order on output).
      acc_unit   "m/s2" (default) | "g";   gyro_unit "rad/s" (default) | "dps"
      timestamp  None (default) | "ms" | "us" | "s": a leading column of device time,
                 unwrapped as an unsigned 32-bit counter (millis()/micros() wrap).

    A line that starts with a letter and is not a labelled sample ("Initializing IMU...",
    "MPU6050 found!") is text: counted in ``skipped``. A line that looks like data but
    does not parse (wrong column count, bad number, NaN, a line cut by a reset) is
    ``corrupt``: counted, reported in ``bad_lines`` as (line number, content), and the
    next block has ``lost_packets`` += 1 (a line is a "packet" here).

    stats keys: packets (data lines decoded), samples, lines, skipped, corrupt, lost,
    overlong (lines over 4096 bytes), time_resets, bad_lines (last 20), last_error.
    """

    def __init__(self, channels=None, acc_unit: str = "m/s2", gyro_unit: str = "rad/s",
                 timestamp: str | None = None, max_line: int = 4096):
        self.acc_factor = _unit_factor(ACC_UNITS, acc_unit, "acc")
        self.gyro_factor = _unit_factor(GYRO_UNITS, gyro_unit, "gyro")
        if timestamp is not None and timestamp not in _TIME_UNITS:
            raise ValueError(f"timestamp unit {timestamp!r}: expected one of {sorted(_TIME_UNITS)}")
        self.timestamp = timestamp
        self.columns: tuple[str, ...] | None = None
        if channels is not None:
            self._set_columns(tuple(channels))
        self.lines = _LineBuffer(max_line)
        self.clock = P.TimestampUnwrapper()
        self.lineno = 0
        self.stats = {"packets": 0, "samples": 0, "lines": 0, "skipped": 0, "corrupt": 0, "lost": 0,
                      "overlong": 0, "time_resets": 0, "bad_lines": [], "last_error": None}

    def _set_columns(self, cols: tuple[str, ...]):
        unknown = [c for c in cols if c not in CHANNELS]
        if unknown or len(set(cols)) != len(cols) or not cols:
            raise ValueError(f"channels {list(cols)}: names from {list(CHANNELS)}, no repeats")
        self.columns = cols
        self.channels = tuple(c for c in CHANNELS if c in cols)
        self._order = [cols.index(c) for c in self.channels]
        self._scale = np.array([self.acc_factor if c.startswith("acc") else self.gyro_factor
                                for c in self.channels], dtype=np.float64)
        self._blocks = _Blocks(self.channels)

    def _bad(self, line: str, why: str):
        st = self.stats
        st["corrupt"] += 1
        st["lost"] += 1
        st["last_error"] = f"line {self.lineno}: {why}: {line[:120]!r}"
        st["bad_lines"].append((self.lineno, line[:200]))
        del st["bad_lines"][:-MAX_BAD_LINES]
        if self.columns is not None:
            self._blocks.gap()

    def _line(self, line: str):
        st = self.stats
        st["lines"] += 1
        s = line.strip()
        if not s:
            return
        if s[0].isdigit() or s[0] in "+-.":
            tokens = [t for t in _SPLIT.split(s) if t]
        else:  # text, unless every field is "label:number" (Arduino serial-plotter style)
            fields = [f.strip() for f in _LABEL_SPLIT.split(s) if f.strip()]
            m = [_LABELLED.match(f) for f in fields]
            if not fields or not all(m):
                st["skipped"] += 1
                return
            tokens = [x.group(1) for x in m]
        if not all(_NUM.match(t) for t in tokens):
            return self._bad(line, "not all fields are numbers")
        vals = [float(t) for t in tokens]
        if not all(math.isfinite(v) and abs(v) < _F32_MAX for v in vals):
            return self._bad(line, "non-finite or out-of-range number")
        t_us = None
        if self.timestamp is not None:
            if not vals:
                return self._bad(line, "no timestamp")
            t_raw = vals.pop(0)
            if t_raw < 0 or t_raw != int(t_raw) and self.timestamp in ("ms", "us"):
                return self._bad(line, "timestamp is not a non-negative integer")
        if self.columns is None:
            guess = {3: CHANNELS[:3], 6: CHANNELS}.get(len(vals))
            if guess is None:
                return self._bad(line, f"{len(vals)} values: pass channels=... (3 or 6 values are inferred)")
            self._set_columns(guess)
        if len(vals) != len(self.columns):
            return self._bad(line, f"{len(vals)} values, expected {len(self.columns)} {list(self.columns)}")
        if self.timestamp is not None:
            raw = int(t_raw) if self.timestamp in ("ms", "us") else t_raw
            if self.timestamp in ("ms", "us"):
                t_us = int(round(self.clock.update(raw) * _TIME_UNITS[self.timestamp]))
                st["time_resets"] = self.clock.resets
            else:
                t_us = int(round(raw * _TIME_UNITS[self.timestamp]))
        row = np.asarray(vals, dtype=np.float64)[self._order] * self._scale
        self._blocks.add(row.tolist(), t_us)
        st["packets"] += 1
        st["samples"] += 1

    def flush(self) -> list[SampleBlock]:
        """End of stream: decode a last line that has no newline (e.g. the end of a file)."""
        return self.feed(b"\n") if self.lines.buf and not self.lines.overlong else []

    def feed(self, chunk: bytes) -> list[SampleBlock]:
        for line, overlong in self.lines.feed(bytes(chunk)):
            self.lineno += 1
            if overlong:
                self.stats["overlong"] += 1
                self._bad("", "line longer than the limit (binary data or wrong baud rate?)")
                continue
            self._line(line)
        return self._blocks.take() if self.columns is not None else []


# --------------------------------------------------------------------------- SensorServer (Android)
SENSORSERVER_ACC = "android.sensor.accelerometer"
SENSORSERVER_GYRO = "android.sensor.gyroscope"


class SensorServerDecoder:
    """Profile ``sensorserver``: JSON messages from the Android app *SensorServer*
    (github.com/umer0586/SensorServer), which serves phone sensors over WebSocket.

    Each message is one Android SensorEvent as a JSON object, as its README documents
    for ``ws://<phone>:<port>/sensor/connect?type=android.sensor.accelerometer``::

        {"accuracy": 2, "timestamp": <ns>, "values": [x, y, z]}

    Newer versions also serve several sensors on one connection
    (``/sensors/connect?types=[...]``) and then add ``"type": "android.sensor.gyroscope"``
    etc. to each message; without ``"type"``, ``feed(chunk, sensor_type=...)`` (or the
    ``sensor_type=`` option) says which sensor a message came from.

    ``values`` are Android SensorEvent units: accelerometer m/s^2 (gravity included),
    gyroscope rad/s; ``timestamp`` is SensorEvent.timestamp in nanoseconds (monotonic,
    since boot). Messages may be fed one per ``feed`` (WebSocket) or concatenated /
    newline-separated in a byte stream (a saved log); partial messages are buffered.
    On a single-sensor connection (``/sensor/connect?type=...``) messages have no
    ``"type"``: pass ``sensor_type=``.

    Accelerometer and gyroscope events arrive separately and at slightly different
    times. With both channels groups (default), one sample is emitted per accelerometer
    event, carrying the most recent gyroscope values (sample-and-hold, the usual way
    phone apps pair them); accelerometer events before the first gyroscope event are
    counted in ``skipped``. ``channels=("acc_x","acc_y","acc_z")`` or the gyro triple
    uses one sensor only. Other sensor types are counted in ``other`` and ignored.

    stats keys: packets (messages decoded), samples, corrupt (not JSON / bad fields),
    lost (= corrupt: the format has no sequence numbers, so only messages that arrived
    broken are known to be lost; the next block has ``lost_packets`` set), skipped, other, bad_lines
    (message number, text), last_error.
    """

    def __init__(self, channels=CHANNELS, sensor_type: str | None = None, max_message: int = 65536):
        channels = tuple(channels)
        self.use_acc = any(c.startswith("acc") for c in channels)
        self.use_gyro = any(c.startswith("gyro") for c in channels)
        if set(channels) not in (set(CHANNELS), set(CHANNELS[:3]), set(CHANNELS[3:])):
            raise ValueError("sensorserver channels: all six, or the acc triple, or the gyro triple")
        self.channels = tuple(c for c in CHANNELS if c in channels)
        self.sensor_type = sensor_type
        self.max_message = max_message
        self.buf = ""
        self.count = 0
        self.last_gyro: list[float] | None = None
        self._blocks = _Blocks(self.channels)
        self._json = json.JSONDecoder()
        self.stats = {"packets": 0, "samples": 0, "corrupt": 0, "lost": 0, "skipped": 0, "other": 0,
                      "bad_lines": [], "last_error": None}

    def _bad(self, text: str, why: str):
        st = self.stats
        st["corrupt"] += 1
        st["last_error"] = f"message {self.count}: {why}: {text[:120]!r}"
        st["bad_lines"].append((self.count, text[:200]))
        del st["bad_lines"][:-MAX_BAD_LINES]
        st["lost"] += 1
        self._blocks.gap(1)

    def _message(self, obj, text: str, sensor_type: str | None):
        st = self.stats
        if not isinstance(obj, dict):
            return self._bad(text, "not a JSON object")
        kind = obj.get("type", sensor_type or self.sensor_type)
        vals, ts = obj.get("values"), obj.get("timestamp")
        if kind not in (SENSORSERVER_ACC, SENSORSERVER_GYRO):
            st["packets"] += 1
            st["other"] += 1
            return
        if (not isinstance(vals, list) or len(vals) < 3
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                           and abs(v) < _F32_MAX for v in vals[:3])
                or not isinstance(ts, int) or isinstance(ts, bool) or ts < 0):
            return self._bad(text, "needs values [x, y, z] (finite numbers) and an integer timestamp (ns)")
        st["packets"] += 1
        xyz = [float(v) for v in vals[:3]]
        if kind == SENSORSERVER_GYRO:
            self.last_gyro = xyz
            if self.use_acc:
                return
            row = xyz
        else:
            if not self.use_acc:
                st["other"] += 1
                return
            if self.use_gyro:
                if self.last_gyro is None:
                    st["skipped"] += 1
                    return
                row = xyz + self.last_gyro
            else:
                row = xyz
        self._blocks.add(row, ts // 1000)
        st["samples"] += 1

    def feed(self, chunk: bytes, sensor_type: str | None = None) -> list[SampleBlock]:
        """``sensor_type`` names the sensor of messages without a "type" field (one
        WebSocket per sensor: feed each connection's messages with its type)."""
        self.buf += bytes(chunk).decode("utf-8", errors="replace")
        i, n = 0, len(self.buf)
        while True:
            while i < n and self.buf[i] in " \t\r\n,":
                i += 1
            if i >= n:
                break
            if self.buf[i] not in "{[":
                j = self.buf.find("\n", i)
                if j < 0:  # wait for the end of this junk line (or for it to grow too long)
                    break
                self.count += 1
                self._bad(self.buf[i:j], "not JSON")
                i = j + 1
                continue
            try:
                obj, end = self._json.raw_decode(self.buf, i)
            except json.JSONDecodeError as e:
                rest = self.buf[e.pos:]
                if "\n" not in rest and "}" not in rest:
                    break  # incomplete (cut inside a message): wait for more bytes
                j = self.buf.find("\n", i + 1)
                k = self.buf.find("{", i + 1)
                nxt = min(x for x in (j, k, n) if x >= 0)
                self.count += 1
                self._bad(self.buf[i:nxt], f"bad JSON ({e.msg})")
                i = nxt
                continue
            self.count += 1
            text = self.buf[i:end]
            i = end
            self._message(obj, text, sensor_type)
        self.buf = self.buf[i:]
        if len(self.buf) > self.max_message:
            self.count += 1
            self._bad(self.buf[:200], f"message longer than {self.max_message} characters")
            self.buf = ""
        return self._blocks.take()


# --------------------------------------------------------------------------- WitMotion
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
        self._blocks = _Blocks(self.channels)
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


# --------------------------------------------------------------------------- registry
PROFILES: dict[str, Callable[..., StreamDecoder]] = {
    "imuedge": ImuedgeSerialDecoder,
    "imuedge-ble": ImuedgeBLEDecoder,
    "text": TextLineDecoder,
    "sensorserver": SensorServerDecoder,
    "witmotion": WitMotionDecoder,
    "witmotion-ble": lambda **kw: WitMotionDecoder(ble=True, **kw),
}


def decoder_for(profile: str, **options) -> StreamDecoder:
    """A fresh decoder for ``profile`` (see PROFILES); ``options`` go to its constructor."""
    try:
        make = PROFILES[profile]
    except KeyError:
        raise ValueError(f"unknown stream profile {profile!r}; known: {sorted(PROFILES)}") from None
    return make(**options)
