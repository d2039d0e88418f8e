"""The BLE source against a real BlueZ stack (this host has no Bluetooth).

A Debian kernel boots in QEMU (TCG) with ``bluetooth`` + ``hci_vhci``; ``btvirt -L -l2``
makes two virtual LE controllers; ``bluetoothd`` runs both. On hci0 a GATT peripheral
(``emulation/ble_peripheral.py``: imuedge IMU service + Nordic UART Service) plays a
HAPT test recording as protocol packets; on hci1 the edge runtime (``StreamRunner`` with
``ble:IMU-VM?adapter=hci1`` -> bleak -> BlueZ over D-Bus) runs an ONNX bundle. One boot,
two runs (``ble_qemu.default_runs``):

* IMU service, 60 s of the recording at 4x, with a link drop at device second 20: the
  peripheral disconnects the host and stops advertising for 3 s; the runtime reports one
  outage, scans, reconnects and resumes;
* Nordic UART Service (COBS frames split over notifications), 30 s at 4x.

Checked on this side: every sample the peripheral sent arrived, bit for bit; the packets
the runtime counts as lost are exactly the ones the peripheral did not send while the link
was down (0 otherwise); the predictions equal offline predictions of the same bundle on
the same samples, exactly. No timing is asserted or reported (the guest is emulated).

About 2 minutes (2 cores); the first run also downloads the kernel .deb (~70 MB) into
``.cache/ble_qemu/``. Only this: ``python -m pytest -m ble_qemu tests/edge_runtime``.
"""
from __future__ import annotations

import json

import pytest

from imuedge.emulation import ble_qemu
from imuedge.edge_runtime.runner import StreamRunner
from imuedge.emulation.simulator import quantize
from imuedge.edge_runtime.sinks import ListSink
from imuedge.edge_runtime.sources import BleSource, Source, SourceDisconnected, SourceError, parse_source
from imuedge.firmware_bridge import protocol as P
from imuedge.firmware_bridge.profiles import decoder_for
from imuedge.firmware_bridge.replay_data import ACC_SCALE, GYRO_SCALE
from imuedge.window import CHANNELS


# ------------------------------------------------------------------ BleSource options, without QEMU
def test_ble_uri_options():
    src = parse_source("ble:IMU-VM?adapter=hci1&service=nus&scan=2.5&tries=4")
    assert (src.target, src.service, src.adapter, src.scan_timeout, src.tries) == ("IMU-VM", "nus", "hci1", 2.5, 4)
    assert src.describe() == "ble:IMU-VM(nus@hci1)" and src.default_decoder == "imuedge"
    assert parse_source("ble:IMU-VM").adapter is None
    for bad in ("ble:X?tries=0", "ble:X?tries=two", "ble:X?adapter=hci0&color=red"):
        with pytest.raises(SourceError):
            parse_source(bad)


def test_ble_connect_retries_and_adapter(monkeypatch):
    """A failed first connect (BlueZ: "failed to discover services") is retried on the same
    device; the adapter goes to the scanner and the client as bleak 3's ``bluez`` argument."""
    import bleak
    from bleak.exc import BleakError

    seen = {"scan": [], "clients": []}

    class Scanner:
        @staticmethod
        async def find_device_by_name(name, timeout=10.0, **kw):
            seen["scan"].append(kw)
            return f"dev:{name}"

    class Client:
        def __init__(self, device, disconnected_callback=None, **kw):
            self.kw, self.cb, self.calls = kw, disconnected_callback, []
            seen["clients"].append(self)

        async def connect(self):
            if len(seen["clients"]) == 1:
                raise BleakError("failed to discover services, device disconnected")

        async def start_notify(self, uuid, cb):
            self.calls.append(("notify", uuid))

        async def write_gatt_char(self, uuid, data, response=False):
            self.calls.append(("write", uuid))

        async def disconnect(self):
            self.calls.append(("disconnect",))

    monkeypatch.setattr(bleak, "BleakScanner", Scanner)
    monkeypatch.setattr(bleak, "BleakClient", Client)
    src = BleSource("IMU-VM", adapter="hci1", tries=2)
    src.open()
    first, second = seen["clients"]
    assert seen["scan"] == [{"bluez": {"adapter": "hci1"}}] and second.kw == {"bluez": {"adapter": "hci1"}}
    assert first.calls == [("disconnect",)] and [c[0] for c in second.calls] == ["notify", "write"]
    assert src.connect_failures == ["BleakError: failed to discover services, device disconnected"]
    first.cb(first)  # a late disconnect callback of the failed attempt is not a lost link
    assert src.read(0.01) == []
    second.cb(second)
    with pytest.raises(SourceDisconnected):
        src.read(0.01)
    src.close()
    with pytest.raises(SourceDisconnected, match="failed to discover"):  # every try fails: a disconnect
        seen["clients"].clear()
        BleSource("IMU-VM", tries=1).open()


# ------------------------------------------------------------------ the reference, without QEMU
class _Packets(Source):
    """BLE notifications from a list, then the end (a stand-in link for checking the reference)."""

    realtime = False
    default_decoder = "imuedge-ble"

    def __init__(self, notifications):
        self.items = list(notifications)

    def open(self):
        pass

    def read(self, timeout=0.1):
        if not self.items:
            raise EOFError
        out, self.items = self.items[:8], self.items[8:]
        return out


@pytest.mark.parametrize("skipped", [[], [7, 8, 9], list(range(10, 60))], ids=["none", "short-gap", "grid-reset"])
def test_reference_predictions_follow_the_runtime(skipped, hapt_test_recording, onnx_bundle):
    """``ble_qemu.reference_predictions`` (what the QEMU test compares with) names the same
    windows as the runtime, with the same scores: gaps filled (grid kept) or, past 30 s,
    a grid restart."""
    from imuedge.bundle import load_bundle

    per = 39
    counts = quantize(hapt_test_recording.data[:, :3000], CHANNELS)
    sent = [i for i in range(-(-len(counts) // per)) if i not in skipped]
    notes = [P.encode_data(P.DataPacket(i, 1_000_000 + i * per * 20000, 20000, 0x3F, ACC_SCALE, GYRO_SCALE,
                                        counts[i * per:(i + 1) * per])) for i in sent]
    pred = load_bundle(onnx_bundle)
    sink = ListSink()
    runner = StreamRunner(_Packets(notes), lambda: decoder_for("imuedge-ble"), pred, [sink], log=lambda m: None)
    runner.run()
    assert runner.error is None
    ref = ble_qemu.reference_predictions(counts, sent, per, pred)
    assert [(r["start"], r["scores"]) for r in sink.records] == [(r["start"], r["scores"]) for r in ref]
    assert runner.prof.report()["stream"]["grid_resets"] == (1 if len(skipped) * per > 1500 else 0)


# ------------------------------------------------------------------ BlueZ in QEMU
def _tail(path, n=3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return f"({path.name} missing)"


@pytest.fixture(scope="module")
def bluez_runs(tmp_path_factory, hapt_test_recording, onnx_bundle):
    try:
        ble_qemu.tools()
        ble_qemu.ensure_kernel()
    except ble_qemu.Unavailable as e:
        pytest.skip(f"BlueZ-in-QEMU unavailable: {e}")
    out = tmp_path_factory.mktemp("ble_qemu")
    runs = ble_qemu.default_runs(seconds=60.0, pace=4.0, outage=True)
    scenario = ble_qemu.prepare(out, hapt_test_recording.data, onnx_bundle, runs)
    r = ble_qemu.run_guest(out, scenario, timeout=600)
    status = json.loads((out / "status.json").read_text()) if (out / "status.json").exists() else {}
    diag = (f"qemu rc={r['rc']} timed_out={r['timed_out']} status={status}\n--- console\n{r['console'][-3000:]}\n"
            f"--- guest.log\n{_tail(out / 'guest.log')}\n--- qemu\n{r['qemu_output'][-1000:]}")
    assert status.get("ok"), diag
    return {run["name"]: ble_qemu.check_run(out, run["name"], onnx_bundle) for run in runs}, diag


def _common(c: dict, diag: str) -> None:
    assert c["error"] is None, diag
    assert c["samples_equal"], (c, diag)
    assert c["samples_received"] == c["samples_sent"] > 0
    assert c["packets"]["received"] == c["packets_sent"]
    assert c["packets"]["corrupt"] == 0 and c["packets"]["out_of_order"] == 0, c
    assert c["packets"]["lost"] == c["packets_skipped"], c
    assert c["predictions"] == c["expected_predictions"] > 0, c
    assert c["predictions_equal"], c
    # the guest's offline reference is this machine's up to float rounding of a different CPU
    assert c["host_offline_max_diff"] < 1e-5, c


@pytest.mark.ble_qemu
def test_imu_service_over_bluez_with_disconnect_and_reconnect(bluez_runs):
    results, diag = bluez_runs
    c = results["imu"]
    _common(c, diag)
    assert c["mtu"] >= 49 and c["samples_per_packet"] >= 1  # an MTU exchange happened (default 23 fits nothing)
    assert c["link_drops"] == 1, c  # (a first connect that failed and was retried is also an outage)
    assert c["packets_skipped"] > 0 and c["packets_sent_after_gap"] > 0  # down for a while, then resumed


@pytest.mark.ble_qemu
def test_nordic_uart_service_over_bluez(bluez_runs):
    results, diag = bluez_runs
    c = results["nus"]
    _common(c, diag)
    assert c["link_drops"] == 0 and c["packets"]["lost"] == 0 and c["packets_skipped"] == 0, c
