"""A BLE IMU peripheral on BlueZ: the device simulator, over a real Bluetooth stack.

It registers, through BlueZ's D-Bus API (``GattManager1``, ``LEAdvertisingManager1``;
dbus-fast, which bleak already depends on), a GATT application with

* the imuedge IMU service (firmware_bridge/PROTOCOL.md section 6.1): DATA packets, one per notification
  on the data characteristic, sized to the negotiated ATT MTU
  (``protocol.max_samples_per_packet``); COMMAND packets written to the control
  characteristic;
* the Nordic UART Service: the serial form (COBS frames) split over TX notifications of
  at most MTU - 3 bytes; commands as COBS frames written to RX;

and advertises one of them (``--service``) under ``--name``. It plays int16 counts (a
``.npy`` of shape (n, 6), e.g. ``simulator.quantize`` of a HAPT recording) as a device
would: it waits for the host's START, then sends one packet each time its last sample
"was taken" (``--rate`` x ``--pace``). The device clock never stops: packets that fall
due while no host is subscribed are not sent, and their sequence numbers are used up
(the host counts them as lost).

Fault for tests: ``--outage-at S --outage-for T``: at device second S the device goes
quiet, drops the link (``Device1.Disconnect``) and stops advertising for T seconds
(out of range), then advertises again and resumes when a host has reconnected and
written START. Packets due during the outage are skipped (their sequence numbers used
up); while it waits for the host to come back (``--reconnect-wait``) its clock stops, so
how many packets are lost does not depend on how long the reconnect takes.

It needs a powered BlueZ adapter (``--adapter hci0``) and the system bus. ``--log FILE``
gets a JSON summary at the end (MTU, samples per packet, packets sent and skipped);
it prints ``ready`` once advertising, ``done`` after the last packet, and keeps the
link up until SIGTERM/SIGINT.

    python -m imuedge.emulation.ble_peripheral --counts counts.npy --name IMU-VM --adapter hci0
"""
import argparse
import asyncio
import json
import signal
import sys
import time
from typing import Annotated

import numpy as np
from dbus_fast import BusType, Message, MessageType, PropertyAccess, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool, DBusBytes, DBusDict, DBusObjectPath, DBusSignature, DBusStr
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

from imuedge.emulation import RigError
from imuedge.firmware_bridge import protocol as P
from imuedge.firmware_bridge.ble import (IMU_CONTROL_UUID, IMU_DATA_UUID, IMU_SERVICE_UUID, NUS_RX_UUID,
                                         NUS_SERVICE_UUID, NUS_TX_UUID)
from imuedge.firmware_bridge.replay_data import ACC_SCALE, GYRO_SCALE

DBusStrList = Annotated[list[str], DBusSignature("as")]
BLUEZ = "org.bluez"
APP_PATH = "/org/imuedge/app"
ADV_PATH = "/org/imuedge/adv0"
CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
ATT_MAX_VALUE = P.BLE_MAX_ATTRIBUTE_LEN  # Bluetooth Core, Vol 3, Part F, 3.2.9: a value is at most 512 bytes


class BlueZCallError(RigError):
    pass


async def bluez_call(bus: MessageBus, path: str, interface: str, member: str, signature: str = "",
                     body: list | None = None):
    reply = await bus.call(Message(destination=BLUEZ, path=path, interface=interface, member=member,
                                   signature=signature, body=body or []))
    if reply.message_type == MessageType.ERROR:
        raise BlueZCallError(f"{interface}.{member} on {path}: {reply.error_name} {reply.body}")
    return reply.body


async def set_adapter(bus: MessageBus, adapter: str, **props) -> None:
    """Set Adapter1 properties (Powered=True, Discoverable=True, ...)."""
    for name, value in props.items():
        sig = "b" if isinstance(value, bool) else "u" if isinstance(value, int) else "s"
        await bluez_call(bus, f"/org/bluez/{adapter}", "org.freedesktop.DBus.Properties", "Set", "ssv",
                         ["org.bluez.Adapter1", name, Variant(sig, value)])


class GattService(ServiceInterface):
    def __init__(self, uuid: str):
        super().__init__("org.bluez.GattService1")
        self._uuid = uuid

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:  # noqa: N802 - BlueZ's names
        return self._uuid

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> DBusBool:  # noqa: N802
        return True


class GattCharacteristic(ServiceInterface):
    """One characteristic; ``on_write(value, options)``, ``on_subscribe(bool)`` callbacks."""

    def __init__(self, uuid: str, service_path: str, flags: list[str], on_write=None, on_subscribe=None):
        super().__init__("org.bluez.GattCharacteristic1")
        self._uuid, self._service, self._flags = uuid, service_path, flags
        self._value = b""
        self._notifying = False
        self.on_write, self.on_subscribe = on_write, on_subscribe

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:  # noqa: N802
        return self._uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> DBusObjectPath:  # noqa: N802
        return self._service

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> DBusStrList:  # noqa: N802
        return self._flags

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> DBusBytes:  # noqa: N802
        return self._value

    @dbus_property(access=PropertyAccess.READ)
    def Notifying(self) -> DBusBool:  # noqa: N802
        return self._notifying

    @dbus_method()
    def ReadValue(self, options: DBusDict) -> DBusBytes:  # noqa: N802
        return self._value

    @dbus_method()
    def WriteValue(self, value: DBusBytes, options: DBusDict):  # noqa: N802
        if self.on_write is not None:
            self.on_write(bytes(value), {k: v.value for k, v in options.items()})

    @dbus_method()
    def StartNotify(self):  # noqa: N802
        self._set_notifying(True)

    @dbus_method()
    def StopNotify(self):  # noqa: N802
        self._set_notifying(False)

    def _set_notifying(self, on: bool) -> None:
        if on != self._notifying:
            self._notifying = on
            self.emit_properties_changed({"Notifying": on})
        if self.on_subscribe is not None:
            self.on_subscribe(on)

    @property
    def notifying(self) -> bool:
        return self._notifying

    def notify(self, data: bytes) -> None:
        """One notification to every subscribed client (BlueZ sends a PropertiesChanged Value as one)."""
        self._value = bytes(data)
        self.emit_properties_changed({"Value": self._value})


class Advertisement(ServiceInterface):
    def __init__(self, name: str, service_uuid: str):
        super().__init__("org.bluez.LEAdvertisement1")
        self._name, self._uuid = name, service_uuid

    @dbus_property(access=PropertyAccess.READ)
    def Type(self) -> DBusStr:  # noqa: N802
        return "peripheral"

    @dbus_property(access=PropertyAccess.READ)
    def ServiceUUIDs(self) -> DBusStrList:  # noqa: N802
        return [self._uuid]

    @dbus_property(access=PropertyAccess.READ)
    def LocalName(self) -> DBusStr:  # noqa: N802
        return self._name

    @dbus_property(access=PropertyAccess.READ)
    def Discoverable(self) -> DBusBool:  # noqa: N802
        return True

    @dbus_method()
    def Release(self):  # noqa: N802
        pass


class ImuPeripheral:
    def __init__(self, args):
        self.args = args
        counts = np.load(args.counts)
        if counts.ndim != 2 or counts.shape[1] != len(CHANNELS) or counts.dtype != np.int16:
            raise SystemExit(f"--counts: expected int16 (n, {len(CHANNELS)}), got {counts.dtype} {counts.shape}")
        self.counts = counts
        self.mask = P.channels_to_mask(CHANNELS)
        self.period_us = int(round(1e6 / args.rate))
        self.mtu: int | None = None
        self.per: int | None = None
        self.armed = False  # a host is subscribed and has written START since the last outage
        self.quiet = False  # in an outage
        self.started = asyncio.Event()
        self.central: str | None = None  # D-Bus path of the connected host's Device1 (on our adapter)
        self.sent: list[int] = []
        self.skipped: list[int] = []
        self.events: list[dict] = []
        self.t0: float | None = None
        self._nus_rx = bytearray()
        self.bus: MessageBus | None = None

    # ------------------------------------------------------------------ events
    def event(self, what: str, **kw) -> None:
        t = None if self.t0 is None else round(time.monotonic() - self.t0, 3)
        self.events.append({"t": t, "event": what, **kw})
        print(json.dumps(self.events[-1]), file=sys.stderr, flush=True)

    def _command(self, raw: bytes, options: dict) -> None:
        try:
            cmd = P.decode_packet(raw)
        except P.ProtocolError as e:
            self.event("bad-command", error=str(e))
            return
        if getattr(cmd, "command", None) != P.Command.START:
            self.event("command", command=str(getattr(cmd, "command", cmd)))
            return
        if options.get("device"):
            self.central = options["device"]
        mtu = int(options.get("mtu") or self.args.mtu)
        self.event("start", mtu=mtu, device=self.central)
        if self.per is None:  # the packet size is fixed by the first connection's MTU
            self.mtu = mtu
            # one notification carries at most MTU - 3 bytes and at most 512 (ATT's limit on a value)
            fit = P.max_samples_per_packet(len(CHANNELS), mtu)
            self.per = self.args.samples_per_packet if self.args.service == "nus" else \
                min(self.args.samples_per_packet, fit)
            if self.per <= 0:
                self.event("mtu-too-small", mtu=mtu)
                self.per = None
                return
        if not self.quiet:
            self.armed = True
        self.started.set()

    def on_imu_write(self, value: bytes, options: dict) -> None:
        self._command(value, options)

    def on_nus_write(self, value: bytes, options: dict) -> None:
        self._nus_rx += value
        while b"\x00" in self._nus_rx:
            frame, _, rest = bytes(self._nus_rx).partition(b"\x00")
            self._nus_rx = bytearray(rest)
            if frame:
                try:
                    self._command(P.cobs_decode(frame), options)
                except P.ProtocolError as e:
                    self.event("bad-frame", error=str(e))

    def on_subscribe(self, on: bool) -> None:
        self.event("subscribe" if on else "unsubscribe")
        if not on:
            self.armed = False

    # ------------------------------------------------------------------ D-Bus objects
    def export(self, bus: MessageBus) -> None:
        imu = f"{APP_PATH}/service0"
        nus = f"{APP_PATH}/service1"
        self.data_char = GattCharacteristic(IMU_DATA_UUID, imu, ["notify"], on_subscribe=self.on_subscribe)
        self.control_char = GattCharacteristic(IMU_CONTROL_UUID, imu, ["write"], on_write=self.on_imu_write)
        self.tx_char = GattCharacteristic(NUS_TX_UUID, nus, ["notify"], on_subscribe=self.on_subscribe)
        self.rx_char = GattCharacteristic(NUS_RX_UUID, nus, ["write", "write-without-response"],
                                          on_write=self.on_nus_write)
        bus.export(imu, GattService(IMU_SERVICE_UUID))
        bus.export(f"{imu}/char0", self.data_char)
        bus.export(f"{imu}/char1", self.control_char)
        bus.export(nus, GattService(NUS_SERVICE_UUID))
        bus.export(f"{nus}/char0", self.tx_char)
        bus.export(f"{nus}/char1", self.rx_char)
        uuid = IMU_SERVICE_UUID if self.args.service == "imu" else NUS_SERVICE_UUID
        bus.export(ADV_PATH, Advertisement(self.args.name, uuid))

    async def advertise(self, on: bool) -> None:
        member = "RegisterAdvertisement" if on else "UnregisterAdvertisement"
        sig, body = ("oa{sv}", [ADV_PATH, {}]) if on else ("o", [ADV_PATH])
        await bluez_call(self.bus, f"/org/bluez/{self.args.adapter}", "org.bluez.LEAdvertisingManager1", member,
                         sig, body)
        self.event("advertising" if on else "not-advertising")

    # ------------------------------------------------------------------ streaming
    def _packet(self, i: int) -> list[bytes]:
        s = i * self.per
        block = self.counts[s:s + self.per]
        flags = P.DataFlags.STARTED if i == 0 else 0
        pkt = P.DataPacket(i & 0xFFFF, (1_000_000 + s * self.period_us) & 0xFFFFFFFF, self.period_us, self.mask,
                           ACC_SCALE, GYRO_SCALE, block, flags)
        raw = P.encode_data(pkt)
        if self.args.service == "imu":
            return [raw]
        stream, room = P.frame(raw), max(1, min(self.mtu - 3, ATT_MAX_VALUE))
        return [stream[k:k + room] for k in range(0, len(stream), room)]

    async def outage(self) -> None:
        a = self.args
        self.quiet, self.armed = True, False
        self.event("outage-begin")
        await asyncio.sleep(a.settle)  # what was already sent reaches the host before the link drops
        if self.central:
            try:
                await bluez_call(self.bus, self.central, "org.bluez.Device1", "Disconnect")
                self.event("disconnected", device=self.central)
            except BlueZCallError as e:
                self.event("disconnect-failed", error=str(e))
        await self.advertise(False)
        await asyncio.sleep(a.outage_for)
        self.quiet = False
        await self.advertise(True)
        self.event("outage-end")

    async def stream(self) -> None:
        a = self.args
        await self.started.wait()
        self.t0 = time.monotonic()
        self.event("streaming", samples_per_packet=self.per, mtu=self.mtu)
        char = self.data_char if a.service == "imu" else self.tx_char
        n_packets = -(-len(self.counts) // self.per)
        outage_task = None
        waited_for_host = False
        dt = self.per / a.rate / a.pace
        for i in range(n_packets):
            if outage_task is not None and outage_task.done() and not self.armed and not waited_for_host:
                # Advertising again: the clock stops until the host has reconnected and sent START, so
                # the packets lost are those due during the outage itself, however long the
                # reconnect takes (scan + retried connects are slow under emulation).
                waited_for_host, t_wait = True, time.monotonic()
                while not self.armed and time.monotonic() - t_wait < a.reconnect_wait:
                    await asyncio.sleep(0.05)
                self.t0 += time.monotonic() - t_wait
                self.event("host-back" if self.armed else "host-gone", waited_s=round(time.monotonic() - t_wait, 2))
            due = self.t0 + (i + 1) * dt
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if a.outage_at is not None and outage_task is None and (i + 1) * self.per / a.rate >= a.outage_at:
                outage_task = asyncio.ensure_future(self.outage())
                await asyncio.sleep(0)
            if self.armed and not self.quiet and char.notifying:
                for part in self._packet(i):
                    char.notify(part)
                self.sent.append(i)
            else:
                self.skipped.append(i)
        if outage_task is not None:
            await outage_task
        self.event("done", sent=len(self.sent), skipped=len(self.skipped))

    def summary(self) -> dict:
        return {"service": self.args.service, "mtu": self.mtu, "samples_per_packet": self.per,
                "samples": int(len(self.counts)), "packets": len(self.sent) + len(self.skipped),
                "sent": self.sent, "skipped": self.skipped, "events": self.events}

    async def run(self) -> int:
        a = self.args
        self.bus = await MessageBus(bus_type=BusType.SYSTEM, negotiate_unix_fd=True).connect()
        await set_adapter(self.bus, a.adapter, Powered=True)
        try:
            await set_adapter(self.bus, a.adapter, Discoverable=True, DiscoverableTimeout=0)
        except BlueZCallError as e:  # advertising works without it; the flags differ
            self.event("discoverable-failed", error=str(e))
        self.export(self.bus)
        await bluez_call(self.bus, f"/org/bluez/{a.adapter}", "org.bluez.GattManager1", "RegisterApplication",
                         "oa{sv}", [APP_PATH, {}])
        await self.advertise(True)
        print("ready", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        streaming = asyncio.ensure_future(self.stream())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([streaming, stopped], return_when=asyncio.FIRST_COMPLETED)
        if streaming.done():
            streaming.result()
            self._write_log()
            print("done", flush=True)
            await stopped
        else:
            streaming.cancel()
            self._write_log()
        return 0

    def _write_log(self) -> None:
        if self.args.log:
            with open(self.args.log, "w") as f:
                json.dump(self.summary(), f)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m imuedge.emulation.ble_peripheral",
                                 description="A BLE IMU peripheral on BlueZ (imuedge IMU service and NUS).")
    ap.add_argument("--counts", required=True, help=".npy of int16 counts, shape (n, 6): acc x,y,z then gyro x,y,z")
    ap.add_argument("--adapter", default="hci0", help="BlueZ adapter to serve on (default hci0)")
    ap.add_argument("--name", default="IMU-VM", help="advertised local name (keep it short: 31-byte advertisement)")
    ap.add_argument("--service", choices=("imu", "nus"), default="imu",
                    help="stream on the imuedge IMU service or the Nordic UART Service (both are served)")
    ap.add_argument("--rate", type=float, default=50.0, help="device sample rate, Hz")
    ap.add_argument("--pace", type=float, default=1.0, help="x real time")
    ap.add_argument("--samples-per-packet", type=int,
                    help="imu: at most this many (default: what the MTU allows); nus: this many (default 10)")
    ap.add_argument("--mtu", type=int, default=23, help="ATT MTU to assume when BlueZ does not say")
    ap.add_argument("--outage-at", type=float, help="device seconds after which the link drops")
    ap.add_argument("--outage-for", type=float, default=3.0, help="seconds without advertising after the drop")
    ap.add_argument("--reconnect-wait", type=float, default=120.0,
                    help="after the outage, seconds to wait (clock stopped) for the host to reconnect")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds of silence before the drop")
    ap.add_argument("--log", help="write a JSON summary here at the end")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.samples_per_packet is None:
        args.samples_per_packet = 10 if args.service == "nus" else P.MAX_SAMPLES
    return asyncio.run(ImuPeripheral(args).run())


if __name__ == "__main__":
    sys.exit(main())
