"""JSON messages of the Android app SensorServer (WebSocket), one per sensor event."""
from __future__ import annotations

import json
import math

from imuedge.window import CHANNELS

from .blocks import F32_MAX, MAX_BAD_LINES, Blocks, SampleBlock


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
        self._blocks = Blocks(self.channels)
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
                           and abs(v) < F32_MAX for v in vals[:3])
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
