"""`imuedge stream --source ws://...`: a real WebSocket client against a local WebSocket server that plays
a phone sensor app's documented messages (SensorServer: one JSON SensorEvent per message) carrying a real
HAPT test recording, into a real ONNX bundle; predictions equal the offline ones."""
from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from imuedge.edge_runtime.offline import offline_predictions
from imuedge.edge_runtime.runner import RunConfig, StreamRunner, check_manifest_against_stream
from imuedge.edge_runtime.sinks import ListSink
from imuedge.edge_runtime.sources import SourceDisconnected, SourceError, WebSocketSource, parse_source
from imuedge.firmware_bridge.profiles import decoder_for


ACC, GYRO = "android.sensor.accelerometer", "android.sensor.gyroscope"


def sensor_events(data: np.ndarray, rate: float = 50.0) -> list[str]:
    """SensorServer's message shape, as its README documents it, with "type" (the multi-sensor endpoint):
    for every sample a gyroscope event, then the accelerometer event taken at the same instant."""
    out = []
    for i in range(data.shape[1]):
        t_ns = 5_000_000_000 + round(i * 1e9 / rate)
        for kind, rows in ((GYRO, data[3:6, i]), (ACC, data[0:3, i])):
            out.append(json.dumps({"type": kind, "accuracy": 3, "timestamp": t_ns,
                                   "values": [float(v) for v in rows]}))
    return out


class PhoneServer:
    """A WebSocket server on 127.0.0.1 that sends ``messages`` to each client, then keeps the connection
    open until ``close``, as a phone app does between sensor events."""

    def __init__(self, messages: list[str]):
        from websockets.sync.server import serve

        self.messages, self.paths, self.done = messages, [], threading.Event()
        self.server = serve(self.handle, "127.0.0.1", 0)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def handle(self, ws):
        self.paths.append(ws.request.path)
        for m in self.messages:
            ws.send(m)
        self.done.wait(60)

    def close(self):
        self.done.set()
        self.server.shutdown()
        self.thread.join(10)


def test_websocket_stream_equals_offline(onnx_bundle, hapt_test_recording):
    from imuedge.bundle import load_bundle

    predictor = load_bundle(onnx_bundle)
    n = 1000
    data = hapt_test_recording.data[:, :n].astype(np.float32)
    server = PhoneServer(sensor_events(data))
    path = "/sensors/connect?types=[%22android.sensor.accelerometer%22,%22android.sensor.gyroscope%22]"
    try:
        source = parse_source(f"ws://127.0.0.1:{server.port}{path}")
        assert isinstance(source, WebSocketSource) and source.default_decoder == "sensorserver"
        sink = ListSink()
        runner = StreamRunner(source, lambda: decoder_for("sensorserver"), predictor, [sink],
                              assembler=check_manifest_against_stream(predictor.manifest),
                              config=RunConfig(backpressure="block", backoff=0.05, max_backoff=0.2),
                              log=lambda m: None)
        out = []
        th = threading.Thread(target=lambda: out.append(runner.run()))
        th.start()
        deadline = time.monotonic() + 60
        while (runner.decoder is None or runner.decoder.stats["samples"] < n) and time.monotonic() < deadline:
            time.sleep(0.02)  # every event decoded; stopping flushes what the assembler holds
        runner.stop()
        th.join(60)
    finally:
        server.close()
    assert server.paths[0] == path  # the whole URL reached the server
    rep = out[0]
    assert runner.error is None and rep["counters"]["samples"] == n
    assert rep["stream"]["mode"] == "passthrough"  # 20 ms apart: the model's 50 Hz grid, no resampling
    ref = offline_predictions(data, predictor)
    assert len(ref) == (n - 128) // 64 + 1
    assert [(r["start"], r["index"], r["scores"]) for r in sink.records] == \
        [(r["start"], r["index"], r["scores"]) for r in ref]


def test_single_sensor_endpoint_tells_the_decoder_its_sensor():
    """SensorServer's /sensor/connect?type=... messages carry no "type": the source reads it off the URL and
    `imuedge stream` hands it to the decoder."""
    import argparse

    from imuedge.edge_runtime.cli import make_source_and_decoder

    url = "ws://127.0.0.1:9/sensor/connect?type=android.sensor.gyroscope"
    args = argparse.Namespace(source=url, rate=None, decoder="auto", no_hello=False, channels="gyro_x,gyro_y,gyro_z",
                              acc_unit="m/s2", gyro_unit="rad/s", timestamp=None)
    src, factory = make_source_and_decoder(args)
    dec = factory()
    assert src.sensor_type == GYRO and dec.sensor_type == GYRO
    dec.feed(json.dumps({"accuracy": 3, "timestamp": 1000, "values": [0.1, 0.2, 0.3]}).encode())
    dec.feed(json.dumps({"accuracy": 3, "timestamp": 21000, "values": [0.4, 0.5, 0.6]}).encode())
    assert dec.stats["samples"] == 2 and dec.stats["corrupt"] == 0 and dec.stats["other"] == 0


def test_refused_connection_is_a_lost_link_and_a_bad_url_is_refused():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = parse_source(f"ws://127.0.0.1:{port}/sensors/connect")
    src.open_timeout = 2.0
    with pytest.raises(SourceDisconnected, match=f"ws://127.0.0.1:{port}/sensors/connect: cannot connect"):
        src.open()
    for bad in ("ws:127.0.0.1", "ws://", "wss:///path"):
        with pytest.raises(SourceError, match="expected ws"):
            parse_source(bad)
