"""Issue #5 acceptance, end to end: the Cortex-M3 firmware (replay driver) in QEMU -> emulated
UART on a pty -> `imuedge stream --source serial:/dev/pts/N` -> a real .pte bundle, checked
against the offline predictions of the very samples the firmware sent.

* The firmware (``make arm``) boots on ``qemu-system-arm -M mps2-an385`` with UART0 on a pty
  (``qemu_e2e.start_qemu(..., "pty")``). It streams the compiled-in HAPT excerpt at 50 Hz,
  six channels, from sample 0, looping at its end (``replay_data``).
* The runtime is the CLI itself, ``imuedge.cli.main(["stream", "--source", "serial:<pty>",
  ...])``, in a thread. ``StreamRunner`` is swapped for a subclass that only records the
  instance and taps the decoded blocks, so the test can send commands through the runtime's
  own source (``SerialSource.write``: the runtime has no command API beyond the START it
  writes at connect) and read the ACKs the runtime's decoder collects (``decoder.control``).
* Command sequence: the runtime's START at connect -> ~480 samples -> STOP (ACKed; no sample
  after it) -> GET_INFO (stopped, 50 Hz) -> SET_RATE 100 (ACKed with a 10 ms period;
  GET_INFO now reports it) -> SET_RATE 50 -> START (ACKed; the stream resumes where the
  replay stopped) -> ~160 samples -> STOP. The runtime never sees a rate other than the
  model's: the assembler fixes the stream rate at the first block, so a mid-stream rate
  change is not re-checked (see the note at the end of this file).
* Checks: 0 lost / 0 corrupt / 0 out-of-order packets, no device overflow; every decoded
  sample equals ``replay_data.load_counts()`` x the packet scales; the STOP/START pause is
  one NaN-filled gap of exactly the device-time length (no grid reset); the predictions the
  CLI wrote (window, start, class, float32 scores) equal ``offline_predictions`` on the same
  samples with the same gap, window for window, bit for bit, none dropped.

No timing assertions. Skips only when make / arm-none-eabi-gcc / qemu-system-arm (or
pyserial) are absent.
"""
from __future__ import annotations

import importlib.util
import itertools
import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from imuedge.firmware_bridge import protocol as P
from imuedge.emulation import qemu_e2e
from imuedge.firmware_bridge import replay_data

HERE = Path(__file__).resolve().parent
WINDOW, HOP = 64, 32  # 1.28 s windows every 0.64 s: enough windows from ~13 s of 50 Hz stream
PHASE_A = 480  # samples streamed before the first STOP (9.6 s)
PHASE_B = 160  # samples streamed after START again (3.2 s)


def _load(path: Path, name: str):
    """Import a helper module by path (tests are not a package; --import-mode=importlib)."""
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_qemu_tests = _load(HERE / "test_qemu_stream.py", "_fb_test_qemu_stream")  # need(), make()


def sent_stream(n: int) -> np.ndarray:
    """float32 (6, n): what the host decodes from the first n samples the firmware sends
    (the excerpt's int16 counts, looping at its end, x the packet's float32 scales)."""
    counts = np.array(replay_data.load_counts(), dtype=np.int16)
    pkt = P.DataPacket(0, 0, 0, P.CHANNEL_MASK_ALL, replay_data.ACC_SCALE, replay_data.GYRO_SCALE,
                       counts[np.arange(n) % len(counts)])
    return pkt.to_array()


@pytest.fixture(scope="module")
def replay_bundle(tmp_path_factory):
    """A real .pte bundle of the edge-runtime tests' tiny classifier (tests/edge_runtime/conftest.py),
    at the firmware's rate and channels (50 Hz, the six canonical channels)."""
    _qemu_tests.need("make", "arm-none-eabi-gcc", "qemu-system-arm")  # before the ~10 s export
    pytest.importorskip("serial", reason="pyserial (imuedge[device]) not installed")
    pytest.importorskip("executorch", reason="the .pte bundle needs executorch (imuedge[export])")
    import torch

    from imuedge.export import export_bundles

    edge = _load(HERE.parent / "edge_runtime" / "conftest.py", "_edge_runtime_conftest")
    torch.set_num_threads(1)
    x = sent_stream(len(replay_data.load_rows()))
    ev = np.stack([x[:, s:s + WINDOW] for s in range(0, x.shape[1] - WINDOW + 1, HOP)])
    out = tmp_path_factory.mktemp("qemu_bundle")
    target = edge.small_target(WINDOW, HOP, float(replay_data.SAMPLE_RATE_HZ))
    summary = export_bundles(target, out, ("pte",), ("fp32",), eval_x=ev, log=lambda m: None)
    assert summary["ok"], summary
    return out / "pte-fp32"


class _Tap:
    """The runtime's decoder, unchanged, with every SampleBlock it returns also kept."""

    def __init__(self, inner, blocks: list):
        self.inner, self.blocks = inner, blocks

    def feed(self, chunk):
        out = self.inner.feed(chunk)
        self.blocks.extend(out)
        return out

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _wait(fn, timeout: float, what: str, th: threading.Thread | None = None):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if th is not None and not th.is_alive():
            raise AssertionError(f"the runtime exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def test_qemu_firmware_stream_into_bundle_equals_offline(replay_bundle, monkeypatch, tmp_path):
    _qemu_tests.need("make", "arm-none-eabi-gcc", "qemu-system-arm")
    pytest.importorskip("serial", reason="pyserial (imuedge[device]) not installed")
    from imuedge.cli import main as cli_main
    from imuedge.edge_runtime import runner as runner_module
    from imuedge.edge_runtime.offline import offline_predictions

    _qemu_tests.make("arm")

    runners: list = []

    class TappedRunner(runner_module.StreamRunner):
        def __init__(self, source, decoder_factory, *args, **kw):
            self.blocks: list = []
            super().__init__(source, lambda: _Tap(decoder_factory(), self.blocks), *args, **kw)
            runners.append(self)

    monkeypatch.setattr(runner_module, "StreamRunner", TappedRunner)  # run_stream imports it at call time

    out = tmp_path / "predictions.jsonl"
    proc, pty, tmp = qemu_e2e.start_qemu(qemu_e2e.ELF, "pty")
    rc: list = []
    th = None
    try:
        # QEMU drops pty output until the pty is opened, checking on each write: opening during
        # the boot hello (0x00 + DEVICE_INFO) would cut a frame. Let the hello go by unseen first.
        time.sleep(1.0)
        argv = ["stream", "--source", f"serial:{pty}", "--model", str(replay_bundle), "--out", str(out),
                "--backpressure", "block", "--duration", "90", "--quiet"]
        th = threading.Thread(target=lambda: rc.append(cli_main(argv)), name="imuedge-stream-cli", daemon=True)
        th.start()
        runner = _wait(lambda: runners[0] if runners else None, 60, "the runtime to start", th)

        def samples():
            return sum(b.data.shape[1] for b in list(runner.blocks))

        def acked(seq):
            return next((p for p in list(runner.decoder.control)
                         if p.type == P.PacketType.ACK and p.acked_seq == seq), None)

        seqs = itertools.count(1)  # the runtime's own START at connect is seq 0

        def command(cmd, **args):
            s = next(seqs)
            runner.source.write(P.frame(P.encode_command(P.CommandPacket(s, cmd, **args))))
            return _wait(lambda: acked(s), 10, f"the ACK of {P.Command(cmd).name}", th)

        def info(ack):
            """The DEVICE_INFO a GET_INFO answered (sent just before its ACK)."""
            return next(p for p in list(runner.decoder.control)
                        if p.type == P.PacketType.DEVICE_INFO and p.seq == ack.seq - 1)

        def settled():
            n = samples()
            time.sleep(0.5)
            assert samples() == n, "data kept coming after STOP was acknowledged"
            return n

        a = _wait(lambda: acked(0), 20, "the ACK of the runtime's START at connect", th)
        assert a.status == P.AckStatus.OK and a.command == P.Command.START, a
        _wait(lambda: samples() >= PHASE_A, 60, f"{PHASE_A} samples", th)

        a = command(P.Command.STOP)
        assert a.status == P.AckStatus.OK, a
        n_a = settled()  # every sample taken is flushed before the ACK
        a = command(P.Command.GET_INFO)
        i = info(a)
        assert a.status == P.AckStatus.OK and not i.streaming and i.sample_period_us == 20_000, (a, i)
        assert i.name == "imuedge-replay-mps2" and i.active_mask == 0x3F, i
        a = command(P.Command.SET_RATE, rate_hz=100)
        assert a.status == P.AckStatus.OK and a.value == 10_000, a
        a = command(P.Command.GET_INFO)
        assert info(a).sample_period_us == 10_000, info(a)  # in effect on the device
        a = command(P.Command.SET_RATE, rate_hz=replay_data.SAMPLE_RATE_HZ)  # back to the model's rate
        assert a.status == P.AckStatus.OK and a.value == 20_000, a
        assert samples() == n_a, "SET_RATE / GET_INFO started the stream"
        a = command(P.Command.START)
        assert a.status == P.AckStatus.OK, a
        _wait(lambda: samples() >= n_a + PHASE_B, 60, f"{PHASE_B} samples after START", th)
        a = command(P.Command.STOP)
        assert a.status == P.AckStatus.OK, a
        n = settled()
        runner.stop()
        th.join(60)
        assert not th.is_alive(), "the runtime did not stop"
    finally:
        if th is not None and th.is_alive():
            for r in runners:
                r.stop()
            th.join(30)
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    assert rc == [0], (rc, runner.error)
    assert runner.error is None, runner.error

    # ---- the link: nothing lost, nothing corrupt, every sample the recording's
    pk = runner._packet_report()
    assert pk["lost"] == 0 and pk["corrupt"] == 0 and pk["out_of_order"] == 0, pk
    assert pk["device_overflow_samples"] == 0, pk
    blocks = runner.blocks
    got = np.concatenate([b.data for b in blocks], axis=1)
    assert got.shape[1] == n
    sent = sent_stream(n)
    assert np.array_equal(got, sent), f"{int((got != sent).any(axis=0).sum())} samples differ from the recording"
    assert {b.period_us for b in blocks} == {20_000.0}, {b.period_us for b in blocks}

    # device time: one run of n_a samples, a pause, one run of n - n_a; no jitter within a run
    starts = np.cumsum([0] + [b.data.shape[1] for b in blocks])[:-1]
    k = int(np.nonzero(starts == n_a)[0][0])  # the first block after START again
    for j, (b0, b1) in enumerate(zip(blocks, blocks[1:])):
        if j + 1 != k:
            assert b1.device_time_us - b0.device_time_us == b0.data.shape[1] * 20_000, (j, b0, b1)
    last_a = blocks[k - 1].device_time_us + (blocks[k - 1].data.shape[1] - 1) * 20_000
    m = int(round((blocks[k].device_time_us - last_a - 20_000) / 20_000))  # samples the pause is worth
    assert m > 0

    # ---- the runtime turned the pause into one NaN gap (longer than --max-gap 0.1 s), no grid reset
    st = runner._stream_report()
    assert st["mode"] == "passthrough" and st["stream_rate_hz"] == 50.0 and st["rate_source"] == "device", st
    assert st["samples_in"] == n and st["gaps"] == 1 and st["gap_samples_missing"] == m, st
    assert st["gap_samples_interpolated"] == 0 and st["grid_resets"] == 0, st

    # ---- predictions: the CLI's JSON lines == offline predictions on the same samples, same gap
    live = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    stream = np.concatenate([sent[:, :n_a], np.full((6, m), np.nan, np.float32), sent[:, n_a:]], axis=1)
    offline = offline_predictions(stream, replay_bundle)
    ref = [r for r in offline if not np.isnan(stream[:, r["start"]:r["start"] + WINDOW]).any()]  # runtime skips
    assert [(r["window"], r["start"]) for r in live] == [(r["window"], r["start"]) for r in ref]
    for a_, b_ in zip(live, ref):
        assert (a_["index"], a_["class"]) == (b_["index"], b_["class"]), (a_, b_)
        assert np.array_equal(np.asarray(a_["scores"], np.float32), np.asarray(b_["scores"], np.float32)), (a_, b_)
    before = sum(r["start"] + WINDOW <= n_a for r in live)
    after = sum(r["start"] >= n_a + m for r in live)
    assert before == (n_a - WINDOW) // HOP + 1 and before >= 10 and after >= 1, (before, after, n_a, m)
    assert before + after == len(live)
    c = runner.prof.report()["counters"]
    assert c["windows_dropped"] == 0 and c["windows_predicted"] == len(live), c
    assert c["windows_skipped_gap"] == len(offline) - len(ref) > 0, c
    print(f"qemu -> imuedge stream -> pte: {n} samples ({n_a} + {m}-sample pause + {n - n_a}), "
          f"{pk['received']} packets, 0 lost, 0 corrupt; {len(live)} windows ({before} before STOP, {after} after "
          f"START) equal offline; {c['windows_skipped_gap']} spanning the pause skipped")

# Not covered, and why: a SET_RATE that changes the rate WHILE the runtime streams. The firmware
# obeys (ACK value = the new period; DATA packets carry it; test_qemu_stream checks that at the
# decoder level), but the runtime's Assembler fixes the stream rate from the first block and
# never re-checks it, so samples at the new rate would be passed to the model as if they were at
# the old one (or, at the same rate, the scheduler's phase restart can read as a grid reset).
