"""BLE identifiers of the imuedge protocol (PROTOCOL.md section 6.1) and a device scan.

Constants only need the standard library; ``scan()`` needs bleak
(``pip install imuedge[device]``) and a Bluetooth adapter (BlueZ on Linux).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

# imuedge IMU service: one packet per notification on DATA, one command packet per write on CONTROL.
IMU_SERVICE_UUID = "3af90001-5f72-4bec-9a33-c84ef5b715e1"
IMU_DATA_UUID = "3af90002-5f72-4bec-9a33-c84ef5b715e1"      # notify: DATA, ACK, DEVICE_INFO packets
IMU_CONTROL_UUID = "3af90003-5f72-4bec-9a33-c84ef5b715e1"   # write (with response): COMMAND packets

# Nordic UART Service: a byte pipe many boards and sketches already expose. Over NUS the
# stream is the SERIAL form (COBS frames, profile "imuedge") or text lines (profile "text").
NUS_SERVICE_UUID = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
NUS_RX_UUID = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"        # host writes here
NUS_TX_UUID = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"        # device notifies here

KNOWN_SERVICES = {IMU_SERVICE_UUID: "imuedge", NUS_SERVICE_UUID: "nus"}


@dataclass
class BLEDevice:
    address: str
    name: str | None
    rssi: int | None
    kind: str            # "imuedge" | "nus"
    profile: str         # stream profile to decode it with (profiles.decoder_for)


class BLEUnavailable(RuntimeError):
    """No usable Bluetooth stack: bleak missing, no adapter, BlueZ/D-Bus not running..."""


SYSTEM_BUS = "unix:path=/var/run/dbus/system_bus_socket"  # D-Bus's default system bus address


def system_bus_address() -> str:
    import os

    return os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or SYSTEM_BUS


def _reason(e: BaseException) -> str:
    msg = str(e) or type(e).__name__
    low = msg.lower()
    if isinstance(e, FileNotFoundError):
        return f"BlueZ/D-Bus is not available (no system bus at {system_bus_address()}: {msg})"
    if "dbus" in low or "system_bus_socket" in low:
        return f"BlueZ/D-Bus is not available ({msg})"
    if "adapter" in low or "powered" in low:
        return f"no usable Bluetooth adapter ({msg})"
    return f"{type(e).__name__}: {msg}"


def stack_missing(e: BaseException) -> str | None:
    """The one-line reason when ``e`` means there is no Bluetooth stack at all (no D-Bus system bus or no
    BlueZ on it), which waiting will not fix; None for errors a retry may cure (a device out of range)."""
    reason = _reason(e)
    return reason if reason.startswith("BlueZ/D-Bus is not available") else None


async def scan_async(timeout: float = 5.0, all_devices: bool = False) -> list[BLEDevice]:
    """Devices advertising the imuedge IMU service or NUS (``all_devices``: every device)."""
    try:
        from bleak import BleakScanner
    except ImportError as e:
        raise BLEUnavailable(f"bleak is not installed (pip install imuedge[device]): {e}") from None
    try:
        found = await BleakScanner.discover(timeout=timeout, return_adv=True)
    except Exception as e:  # bleak raises BleakError, OSError, D-Bus errors... depending on the platform
        raise BLEUnavailable(_reason(e)) from None
    out = []
    for dev, adv in found.values():
        uuids = {u.lower() for u in (adv.service_uuids or [])}
        kind = next((k for u, k in KNOWN_SERVICES.items() if u in uuids), None)
        if kind is None and not all_devices:
            continue
        out.append(BLEDevice(dev.address, adv.local_name or dev.name, adv.rssi, kind or "other",
                             {"imuedge": "imuedge-ble", "nus": "imuedge or text"}.get(kind or "", "?")))
    return sorted(out, key=lambda d: -(d.rssi if d.rssi is not None else -999))


def scan(timeout: float = 5.0, all_devices: bool = False) -> list[BLEDevice]:
    return asyncio.run(scan_async(timeout, all_devices))
