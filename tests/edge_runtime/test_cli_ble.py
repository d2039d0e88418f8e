"""`imuedge stream` / `imuedge record` flags, and the BLE source over a fake bleak (no radio)."""
from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from imuedge.edge_runtime.offline import offline_predictions
from imuedge.edge_runtime.runner import RunConfig, StreamRunner
from imuedge.emulation.simulator import expected_stream, quantize
from imuedge.edge_runtime.sinks import ListSink
from imuedge.edge_runtime.sources import IMU_CONTROL_UUID, IMU_DATA_UUID, BleSource, ReplaySource, \
    SourceDisconnected
from imuedge.firmware_bridge import protocol as P
from imuedge.firmware_bridge.profiles import decoder_for
from imuedge.firmware_bridge.replay_data import ACC_SCALE, GYRO_SCALE
from imuedge.window import CHANNELS


# ------------------------------------------------------------------ CLI
def test_every_flag_has_help():
    from imuedge.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in ("stream", "record"):
        for action in sub.choices[name]._actions:
            assert action.help, f"imuedge {name} {action.option_strings} has no help"


def test_cli_stream_replay_writes_predictions_and_profile(tmp_path, recording_csv, pte_bundle, capsys):
    from imuedge.cli import main

    csv = recording_csv(700)
    out, prof = tmp_path / "p.jsonl", tmp_path / "profile.json"
    rc = main(["stream", "--model", str(pte_bundle), "--source", f"replay:{csv}?speed=max", "--out", str(out),
               "--profile", str(prof), "--smooth", "3"])
    assert rc == 0
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    src = ReplaySource(csv)
    src.open()
    ref = offline_predictions(src.recording, str(pte_bundle))
    assert [(r["start"], r["scores"]) for r in recs] == [(r["start"], r["scores"]) for r in ref]
    assert all("smoothed" in r for r in recs)
    rep = json.loads(prof.read_text())
    for key in ("latency", "cpu", "memory", "packets", "stream", "outages", "counters"):
        assert key in rep
    assert rep["counters"]["windows_predicted"] == len(ref)
    assert "e2e" in capsys.readouterr().err  # the table at exit


def test_cli_stream_refuses_mismatch_naming_both(tmp_path, pte_bundle, capsys):
    from imuedge.cli import main

    rc = main(["stream", "--model", str(pte_bundle), "--source", "serial:/dev/null", "--decoder", "text",
               "--channels", "acc_x,acc_y,acc_z"])
    err = capsys.readouterr().err
    assert rc == 2 and "gyro_x" in err and "['acc_x', 'acc_y', 'acc_z']" in err
    rc = main(["stream", "--model", str(pte_bundle), "--source", "serial:/dev/null", "--rate", "10"])
    err = capsys.readouterr().err
    assert rc == 2 and "50 Hz" in err and "10 Hz" in err
    rc = main(["stream", "--model", str(tmp_path), "--source", "serial:/dev/null"])
    assert rc == 2 and "imuedge.json" in capsys.readouterr().err


def test_cli_stream_cpu_pins_the_predicting_thread_and_bad_flags_truncate_nothing(tmp_path, recording_csv,
                                                                                   pte_bundle, capsys):
    """``--cpu N`` lands in the profile and the stream's predictions are unchanged; a CPU this process may not
    use, a hop of 0 or an --out that cannot be written is one line and exit 2, before --out is opened (an
    earlier run's predictions there survive)."""
    import os

    from imuedge.cli import main

    csv = recording_csv(400)
    cpu = max(os.sched_getaffinity(0))
    out, prof = tmp_path / "p.jsonl", tmp_path / "profile.json"
    assert main(["stream", "--model", str(pte_bundle), "--source", f"replay:{csv}?speed=max", "--out", str(out),
                 "--profile", str(prof), "--cpu", str(cpu), "--quiet"]) == 0
    assert json.loads(prof.read_text())["pinned_cpu"] == cpu
    assert len(out.read_text().splitlines()) == (400 - 128) // 64 + 1
    kept = out.read_text()
    for flags, said in ((["--cpu", "4096"], "--cpu 4096: this process may run on CPU"),
                        (["--hop", "0"], "--hop must be a positive number of samples, got 0"),
                        (["--out", str(tmp_path / "no" / "such" / "dir.jsonl")], "No such file or directory")):
        argv = ["stream", "--model", str(pte_bundle), "--source", f"replay:{csv}?speed=max", "--out", str(out)]
        assert main(argv + flags) == 2
        err = capsys.readouterr().err.strip()
        assert said in err and len(err.splitlines()) == 1 and "Traceback" not in err
        assert out.read_text() == kept


def test_cli_bad_source_is_named(pte_bundle, capsys):
    from imuedge.cli import main

    assert main(["stream", "--model", str(pte_bundle), "--source", "usb:thing"]) == 2
    assert "usb:thing" in capsys.readouterr().err


# ------------------------------------------------------------------ BLE over a fake bleak
class FakeBle:
    """Stands in for bleak: one peripheral named 'IMU-1' sending imuedge packets as notifications."""

    def __init__(self):
        self.clients = []
        self.found = True

    def install(self, monkeypatch):
        import bleak

        fake = self

        class Scanner:
            @staticmethod
            async def find_device_by_name(name, timeout=10.0):
                return f"dev:{name}" if fake.found and name == "IMU-1" else None

            @staticmethod
            async def find_device_by_address(addr, timeout=10.0):
                return None

        class Client:
            def __init__(self, device, disconnected_callback=None):
                self.device, self.on_disconnect = device, disconnected_callback
                self.notify = {}
                self.written = []
                fake.clients.append(self)

            async def connect(self):
                self.loop = asyncio.get_running_loop()

            async def start_notify(self, uuid, cb):
                self.notify[uuid] = cb

            async def write_gatt_char(self, uuid, data, response=False):
                self.written.append((uuid, bytes(data)))

            async def disconnect(self):
                pass

            def send(self, data: bytes):  # from the test thread, as the radio would
                self.loop.call_soon_threadsafe(self.notify[IMU_DATA_UUID], None, bytearray(data))

            def drop(self):
                self.loop.call_soon_threadsafe(self.on_disconnect, self)

        monkeypatch.setattr(bleak, "BleakScanner", Scanner)
        monkeypatch.setattr(bleak, "BleakClient", Client)


def packets(data, per=12, seq0=0, t0=0):
    counts = quantize(data, CHANNELS)
    return [P.encode_data(P.DataPacket((seq0 + k) & 0xFFFF, t0 + s * 20000, 20000, 0x3F, ACC_SCALE, GYRO_SCALE,
                                       counts[s:s + per])) for k, s in enumerate(range(0, counts.shape[0], per))]


def wait_for(cond, timeout=20.0):
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.01)
    assert cond()


def test_ble_source_notifications_disconnect_and_reconnect(monkeypatch, hapt_test_recording, pte_bundle):
    from imuedge.bundle import load_bundle

    fake = FakeBle()
    fake.install(monkeypatch)
    pred = load_bundle(pte_bundle)
    x = hapt_test_recording.data[:, :600]
    pk = packets(x)
    src = BleSource("IMU-1", "imu", scan_timeout=0.5)
    sink = ListSink()
    runner = StreamRunner(src, lambda: decoder_for("imuedge-ble"), pred, [sink],
                          config=RunConfig(backpressure="block", backoff=0.02, max_backoff=0.05), log=lambda m: None)
    th = threading.Thread(target=runner.run)
    th.start()
    try:
        wait_for(lambda: fake.clients)
        c = fake.clients[0]
        assert c.written and c.written[0][0] == IMU_CONTROL_UUID
        assert P.decode_packet(c.written[0][1]).command == P.Command.START
        for p in pk[:25]:  # samples 0..299
            c.send(p)
        wait_for(lambda: runner.prof.counters.get("samples", 0) == 300)
        fake.found = False
        c.drop()  # link lost; the device is out of range for a moment
        wait_for(lambda: runner.outages.current_since is not None)
        time.sleep(0.1)
        fake.found = True
        wait_for(lambda: len(fake.clients) == 2)
        c2 = fake.clients[1]
        wait_for(lambda: IMU_DATA_UUID in c2.notify)
        for p in pk[30:]:  # 5 packets (60 samples) went out while disconnected
            c2.send(p)
        wait_for(lambda: runner.prof.counters.get("samples", 0) >= 600)
    finally:
        runner.stop()
        th.join(30)
    rep = runner.prof.report()
    assert runner.error is None
    assert rep["outages"]["count"] == 1 and rep["packets"]["lost"] == 5
    ref = {r["start"]: r for r in offline_predictions(expected_stream(x, CHANNELS), pred, CHANNELS)}
    hit = {s for s in ref if s < 360 and s + 128 > 300}
    assert {r["start"] for r in sink.records} == set(ref) - hit
    assert all(r["scores"] == ref[r["start"]]["scores"] for r in sink.records)


def test_ble_source_not_found_is_a_disconnect(monkeypatch):
    fake = FakeBle()
    fake.install(monkeypatch)
    src = BleSource("other", scan_timeout=0.1)
    with pytest.raises(SourceDisconnected, match="'other' not found"):
        src.open()
