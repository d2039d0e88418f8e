"""Sources: where bytes (or already-decoded sample blocks) come from.

Every source has the same small interface::

    src.open()                    # connect; raises SourceError if it cannot
    src.read(timeout) -> list     # chunks that arrived: bytes (or SampleBlock for CSV replay);
                                  # [] on timeout; raises SourceDisconnected when the link drops;
                                  # raises EOFError at the end of a replay
    src.close()
    src.default_decoder           # the firmware_bridge.profiles decoder its bytes usually need
    src.describe()                # a short name for reports

``parse_source("serial:/dev/ttyACM0?baud=921600")`` builds one from a URI:

    serial:PORT[?baud=115200]                      pyserial; PORT may be any pyserial URL
    ble:NAME_OR_ADDRESS[?service=imu|nus&adapter=hci1&scan=10&tries=3]
                                                   bleak; the imuedge IMU GATT service or Nordic UART;
                                                   adapter: BlueZ adapter (Linux), tries: connects per open
    replay:FILE[?speed=1|10|max]                   a CSV recording or a raw serial capture (.bin)
    ws://HOST:PORT/PATH[?...] | wss://...          websockets; one message per chunk (a phone app such as
                                                   SensorServer: JSON sensor events, decoder sensorserver)

A new transport is one new ``Source`` subclass.
"""
from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np

from imuedge.firmware_bridge import protocol as P
from imuedge.firmware_bridge.profiles import SampleBlock

# The imuedge IMU GATT service and the Nordic UART Service: one definition, in
# firmware_bridge (PROTOCOL.md section 6.1), shared with the firmware and `devices list`.
from imuedge.firmware_bridge.ble import (IMU_CONTROL_UUID, IMU_DATA_UUID, IMU_SERVICE_UUID,  # noqa: E402
                                         NUS_RX_UUID, NUS_SERVICE_UUID, NUS_TX_UUID)


class SourceError(RuntimeError):
    """A source that cannot be opened or is misconfigured (bad URI, missing file, no device)."""


class SourceDisconnected(ConnectionError):
    """The link dropped (serial device unplugged, BLE disconnect); the runner reconnects."""


def start_command(seq: int = 0) -> bytes:
    """The serial frame of an imuedge START command (sent at connect; a device already
    streaming answers BAD_STATE, which is harmless)."""
    return P.frame(P.encode_command(P.CommandPacket(seq, P.Command.START)))


class Source:
    default_decoder = "imuedge"
    realtime = True  # False: a file that can wait for the consumer (replay)

    def open(self) -> None:
        raise NotImplementedError

    def read(self, timeout: float = 0.1) -> list:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return type(self).__name__


# --------------------------------------------------------------------------- serial
class SerialSource(Source):
    """A serial port (USB CDC, UART, pseudo-terminal) via pyserial.

    ``hello``: bytes written after every (re)connect -- by default an imuedge START
    command for the binary protocol, nothing for text sketches (they stream at boot).
    """

    def __init__(self, port: str, baud: int = 115200, hello: bytes | None = None):
        self.port, self.baud, self.hello = port, int(baud), hello
        self._ser = None

    def describe(self) -> str:
        return f"serial:{self.port}@{self.baud}"

    def open(self) -> None:
        try:
            import serial
        except ImportError as e:  # pragma: no cover - depends on the install
            raise SourceError("serial sources need pyserial: pip install 'imuedge[device]'") from e
        try:
            self._ser = serial.serial_for_url(self.port, baudrate=self.baud, timeout=0.05)
        except (serial.SerialException, OSError, ValueError) as e:
            raise SourceDisconnected(f"{self.port}: cannot open ({e})") from e
        if self.hello:
            self.write(self.hello)

    def write(self, data: bytes) -> None:
        try:
            self._ser.write(data)
            self._ser.flush()
        except Exception as e:  # noqa: BLE001 - any write failure is a lost link
            raise SourceDisconnected(f"{self.port}: write failed ({e})") from e

    def read(self, timeout: float = 0.1) -> list:
        import serial

        if self._ser is None:
            raise SourceDisconnected(f"{self.port}: not open")
        try:
            if self._ser.timeout != timeout:  # setting it reconfigures the port (a syscall)
                self._ser.timeout = timeout
            data = self._ser.read(max(1, self._ser.in_waiting))
            if len(data) == 1:  # woken by a packet's first byte: take the rest that came with it, in one chunk
                more = self._ser.in_waiting
                if more:
                    data += self._ser.read(more)
        except (serial.SerialException, OSError, TypeError, AttributeError) as e:
            # pyserial raises TypeError/AttributeError when the fd vanished under it
            self.close()
            raise SourceDisconnected(f"{self.port}: {e}") from e
        return [data] if data else []

    def close(self) -> None:
        if self._ser is not None:
            try:
                self._ser.close()
            except Exception:  # noqa: BLE001
                pass
            self._ser = None


# --------------------------------------------------------------------------- replay
class ReplaySource(Source):
    """Plays a file back at ``speed`` x real time (``None``: as fast as the consumer takes it).

    * ``*.csv`` (and ``*.parquet``): the project's recording format -> SampleBlocks of
      ``block`` samples, exact values, device time from the file's sample grid.
    * anything else: raw bytes captured from a serial port (COBS frames); pacing uses the
      timestamps inside the packets, the runner decodes them with the ``imuedge`` decoder.
    """

    realtime = False

    def __init__(self, path: str | Path, speed: float | None = 1.0, block: int = 10, rate: float | None = None):
        self.path = Path(path)
        self.speed = speed
        self.block = int(block)
        self.rate = rate
        self._items: list = []
        self._times: list[float] = []  # device seconds of each item
        self._pos = 0
        self._t0: float | None = None
        self.default_decoder = "imuedge"
        self.is_recording = self.path.suffix.lower() in (".csv", ".parquet")

    def describe(self) -> str:
        return f"replay:{self.path}@{'max' if self.speed is None else self.speed}x"

    def open(self) -> None:
        if self._items:  # reopened after a (simulated) outage: carry on where we were
            return
        if not self.path.is_file():
            raise SourceError(f"replay file {self.path} does not exist")
        if self.is_recording:
            self._load_recording()
        else:
            self._load_capture()

    def _load_recording(self) -> None:
        from imuedge.data import RecordingsConfig, read_recording_file

        parsed = read_recording_file(self.path, RecordingsConfig(rate=self.rate, strict=True))
        rec = parsed.recording if hasattr(parsed, "recording") else parsed[0]
        self.recording = rec
        period_us = 1e6 / rec.sample_rate_hz
        n = rec.num_samples
        for s in range(0, n, self.block):
            data = rec.data[:, s:s + self.block]
            t_us = int(round(s * period_us))
            self._items.append(SampleBlock(data=np.ascontiguousarray(data), channels=rec.channels,
                                           device_time_us=t_us, period_us=period_us, seq=None))
            self._times.append(s / rec.sample_rate_hz)
        self.default_decoder = None  # already decoded

    def _load_capture(self) -> None:
        raw = self.path.read_bytes()
        frames = raw.split(b"\x00")
        clock, t = P.TimestampUnwrapper(), 0.0
        t_first = None
        for i, f in enumerate(frames):
            chunk = f + b"\x00" if i < len(frames) - 1 else f
            if not chunk:
                continue
            if self.speed is not None:
                try:
                    p = P.decode_packet(P.cobs_decode(f))
                    if p.type == P.PacketType.DATA:
                        us = clock.update(p.timestamp_us)
                        t_first = us if t_first is None else t_first
                        t = (us - t_first) / 1e6
                except P.ProtocolError:
                    pass  # corrupt frames go out with the previous frame's time
            self._items.append(chunk)
            self._times.append(t)

    def read(self, timeout: float = 0.1) -> list:
        if self._pos >= len(self._items):
            raise EOFError(str(self.path))
        if self.speed is None:
            out = self._items[self._pos:self._pos + 64]
            self._pos += len(out)
            return out
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now - self._times[self._pos] / self.speed
        due = self._t0 + self._times[self._pos] / self.speed
        if due > now:
            time.sleep(min(timeout, due - now))
            return []
        out = []
        while self._pos < len(self._items) and self._t0 + self._times[self._pos] / self.speed <= now:
            out.append(self._items[self._pos])
            self._pos += 1
        return out


# --------------------------------------------------------------------------- BLE
class BleSource(Source):
    """A BLE peripheral via bleak: the imuedge IMU service (one packet per notification,
    decoder ``imuedge-ble``) or the Nordic UART Service (a byte stream: COBS-framed
    packets, decoder ``imuedge``, or text lines, decoder ``text``).

    bleak is asyncio; it runs on a private event loop in a daemon thread and hands
    notifications to ``read`` through a queue. A disconnect callback turns into
    ``SourceDisconnected`` on the next ``read``; the runner then calls ``open`` again
    (with backoff), which scans and connects afresh.

    ``adapter``: the BlueZ adapter to scan and connect with (``hci1``; Linux only;
    default: bleak's, the first one). ``tries``: connection attempts per ``open`` on the
    device found by the scan -- a first connect often fails (service discovery cut short,
    a connection that times out) on real radios and on BlueZ alike, and retrying the
    connect is quicker than a new scan.
    """

    def __init__(self, target: str, service: str = "imu", scan_timeout: float = 10.0, start: bool = True,
                 adapter: str | None = None, tries: int = 3):
        if service not in ("imu", "nus"):
            raise SourceError(f"ble service {service!r}: expected 'imu' or 'nus'")
        if int(tries) < 1:
            raise SourceError(f"ble tries {tries!r}: expected a positive integer")
        self.target, self.service, self.scan_timeout, self.start = target, service, scan_timeout, start
        self.adapter, self.tries = adapter or None, int(tries)
        self.default_decoder = "imuedge-ble" if service == "imu" else "imuedge"
        self._q: queue.Queue = queue.Queue()
        self._loop = None
        self._thread = None
        self._client = None
        self._disconnected = threading.Event()
        self.connect_failures: list[str] = []  # failed attempts that a retry then fixed (for reports)

    def describe(self) -> str:
        return f"ble:{self.target}({self.service}{'@' + self.adapter if self.adapter else ''})"

    def _ensure_loop(self):
        import asyncio

        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._loop.set_exception_handler(self._loop_exception)
            self._thread = threading.Thread(target=self._loop.run_forever, name="ble-loop", daemon=True)
            self._thread.start()

    def _call(self, coro, timeout: float):
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    @staticmethod
    def _loop_exception(loop, context) -> None:
        # After a failed connect, bleak closes its D-Bus connection under a pending write and
        # asyncio reports "Future exception was never retrieved: BrokenPipeError": not news.
        if isinstance(context.get("exception"), (BrokenPipeError, ConnectionResetError)):
            return
        loop.default_exception_handler(context)

    def _on_disconnect(self, client) -> None:
        if client is self._client:  # not a late callback from an attempt that was retried
            self._disconnected.set()

    async def _connect(self):
        import asyncio

        from bleak import BleakClient, BleakScanner

        t = self.target
        bluez = {"bluez": {"adapter": self.adapter}} if self.adapter else {}
        is_address = len(t) == 17 and t.count(":") == 5 or len(t) == 36 and t.count("-") == 4
        device = (await BleakScanner.find_device_by_address(t, timeout=self.scan_timeout, **bluez) if is_address
                  else await BleakScanner.find_device_by_name(t, timeout=self.scan_timeout, **bluez))
        if device is None:
            raise SourceDisconnected(f"BLE device {t!r} not found (scanned {self.scan_timeout:g} s)")
        notify, write = (IMU_DATA_UUID, IMU_CONTROL_UUID) if self.service == "imu" else (NUS_TX_UUID, NUS_RX_UUID)
        for attempt in range(1, self.tries + 1):
            client = BleakClient(device, disconnected_callback=self._on_disconnect, **bluez)
            self._client = client
            try:
                await client.connect()
                await client.start_notify(notify, lambda _ch, data: self._q.put(bytes(data)))
                if self.start:
                    cmd = P.encode_command(P.CommandPacket(0, P.Command.START))
                    await client.write_gatt_char(write, cmd if self.service == "imu" else P.frame(cmd),
                                                 response=True)
                return client
            except Exception as e:  # noqa: BLE001 - BleakError, TimeoutError, D-Bus errors
                self._client = None
                try:
                    await client.disconnect()
                except Exception:  # noqa: BLE001
                    pass
                if attempt == self.tries:
                    raise
                self.connect_failures.append(f"{type(e).__name__}: {e}")
                await asyncio.sleep(0.5 * attempt)

    def open(self) -> None:
        try:
            import bleak  # noqa: F401
        except ImportError as e:  # pragma: no cover
            raise SourceError("BLE sources need bleak: pip install 'imuedge[device]'") from e
        self._ensure_loop()
        self._disconnected.clear()
        try:
            self._client = self._call(self._connect(), (self.scan_timeout + 30) * self.tries)
        except SourceDisconnected:
            raise
        except Exception as e:  # noqa: BLE001 - BleakError, timeouts, adapter off
            from imuedge.firmware_bridge.ble import stack_missing

            missing = stack_missing(e)
            if missing:  # no Bluetooth stack on this machine: retrying cannot help
                raise SourceError(f"ble:{self.target}: {missing}") from e
            raise SourceDisconnected(f"BLE {self.target}: {type(e).__name__}: {e}") from e

    def read(self, timeout: float = 0.1) -> list:
        out = []
        try:
            out.append(self._q.get(timeout=timeout))
            while True:
                out.append(self._q.get_nowait())
        except queue.Empty:
            pass
        if not out and self._disconnected.is_set():
            raise SourceDisconnected(f"BLE {self.target}: disconnected")
        return out

    def close(self) -> None:
        if self._client is not None and self._loop is not None:
            client, self._client = self._client, None
            try:
                self._call(client.disconnect(), 5)
            except Exception:  # noqa: BLE001
                pass


# --------------------------------------------------------------------------- WebSocket
class WebSocketSource(Source):
    """A WebSocket server that pushes sensor events, read with the ``websockets`` client.

    Made for phone apps that serve their sensors over WebSocket, such as SensorServer
    (github.com/umer0586/SensorServer): ``ws://PHONE:8080/sensors/connect?types=[...]``
    sends one JSON SensorEvent per message (decoder ``sensorserver``). On its single-sensor
    endpoint (``/sensor/connect?type=android.sensor.accelerometer``) messages carry no
    ``"type"``; ``sensor_type`` takes it from the URL's ``type=`` so the decoder knows.
    Each message is one chunk (text messages as UTF-8 bytes). The whole URL, query
    included, goes to the server. A refused or dropped connection is ``SourceDisconnected``
    (the runner reconnects with backoff); a malformed URL is ``SourceError``.
    """

    default_decoder = "sensorserver"

    def __init__(self, url: str, open_timeout: float = 10.0, max_message: int = 1 << 20):
        self.url, self.open_timeout, self.max_message = url, float(open_timeout), int(max_message)
        query = dict(parse_qsl(url.partition("?")[2]))
        self.sensor_type = query.get("type")
        self._ws = None

    def describe(self) -> str:
        return self.url

    def open(self) -> None:
        try:
            from websockets.exceptions import InvalidURI
            from websockets.sync.client import connect
        except ImportError as e:  # pragma: no cover - depends on the install
            raise SourceError("WebSocket sources need websockets: pip install 'imuedge[device]'") from e
        try:
            self._ws = connect(self.url, open_timeout=self.open_timeout, max_size=self.max_message,
                               compression=None).__enter__()  # the connection itself, as `with` would give
        except InvalidURI as e:
            raise SourceError(f"source {self.url!r}: not a WebSocket URL ({e})") from None
        except Exception as e:  # noqa: BLE001 - refused, DNS, handshake rejected, timeout: all a lost link
            raise SourceDisconnected(f"{self.url}: cannot connect ({type(e).__name__}: {e})") from e

    def read(self, timeout: float = 0.1) -> list:
        from websockets.exceptions import ConnectionClosed

        if self._ws is None:
            raise SourceDisconnected(f"{self.url}: not open")
        out = []
        try:
            wait = timeout
            while True:
                message = self._ws.recv(timeout=wait)
                out.append(message.encode("utf-8") if isinstance(message, str) else bytes(message))
                wait = 0  # then take whatever else has already arrived
        except TimeoutError:
            pass
        except ConnectionClosed as e:
            self.close()
            if out:  # hand over what arrived; the next read reports the drop
                return out
            raise SourceDisconnected(f"{self.url}: connection closed ({e})") from e
        return out

    def close(self) -> None:
        if self._ws is not None:
            ws, self._ws = self._ws, None
            try:
                ws.close()
            except Exception:  # noqa: BLE001
                pass


# --------------------------------------------------------------------------- URIs
def _options(query: str, allowed: set[str], uri: str) -> dict:
    opts = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(opts) - allowed)
    if unknown:
        raise SourceError(f"source {uri!r}: unknown option(s) {unknown}; allowed: {sorted(allowed)}")
    return opts


def parse_speed(text: str, uri: str = "") -> float | None:
    if text in ("max", "inf", "0"):
        return None
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if v <= 0:
        raise SourceError(f"source {uri!r}: speed {text!r} must be a positive number or 'max'")
    return v


def parse_source(uri: str, *, hello: bytes | None = None, rate: float | None = None) -> Source:
    """``serial:PORT[?baud=N]`` | ``ble:NAME_OR_ADDRESS[?service=imu|nus&adapter=hciN&scan=S&tries=N]`` |
    ``replay:FILE[?speed=X|max]`` | ``ws://HOST:PORT/PATH`` | ``wss://...``."""
    kind, sep, rest = uri.partition(":")
    if not sep or not rest:
        raise SourceError(f"source {uri!r}: expected serial:PORT, ble:NAME_OR_ADDRESS, replay:FILE or ws://HOST:PORT/PATH")
    if kind in ("ws", "wss"):
        if not rest.startswith("//") or not rest[2:].split("/", 1)[0]:
            raise SourceError(f"source {uri!r}: expected {kind}://HOST:PORT/PATH")
        return WebSocketSource(uri)
    target, _, query = rest.partition("?")
    if kind == "serial":
        opts = _options(query, {"baud"}, uri)
        try:
            baud = int(opts.get("baud", 115200))
        except ValueError:
            raise SourceError(f"source {uri!r}: baud {opts['baud']!r} is not an integer") from None
        return SerialSource(target, baud, hello=hello)
    if kind == "ble":
        opts = _options(query, {"service", "scan", "adapter", "tries"}, uri)
        try:
            scan, tries = float(opts.get("scan", 10.0)), int(opts.get("tries", 3))
        except ValueError:
            raise SourceError(f"source {uri!r}: scan must be a number of seconds, tries an integer") from None
        return BleSource(target, opts.get("service", "imu"), scan, adapter=opts.get("adapter"), tries=tries)
    if kind == "replay":
        opts = _options(query, {"speed", "block"}, uri)
        block = opts.get("block", "10")
        if not block.isdigit() or int(block) < 1:
            raise SourceError(f"source {uri!r}: block {block!r} must be a positive whole number of samples")
        return ReplaySource(target, parse_speed(opts.get("speed", "1"), uri), int(block), rate)
    raise SourceError(f"source {uri!r}: unknown kind {kind!r}; expected serial:, ble:, replay:, ws:// or wss://")
