"""`imuedge stream` (live predictions with a profile) and `imuedge record` (capture a recording)."""
from __future__ import annotations

import argparse
import json
import signal
import sys

SOURCE_HELP = ("serial:PORT[?baud=115200] | ble:NAME_OR_ADDRESS[?service=imu|nus&adapter=hci0&scan=10&tries=3] "
               "(adapter: the BlueZ adapter to use, Linux; scan: seconds to look for the device; tries: connection "
               "attempts per (re)connect) | replay:FILE[?speed=1|10|max] (a CSV recording or a raw serial capture) | "
               "ws://HOST:PORT/PATH or wss://... (a WebSocket server pushing sensor events, e.g. the SensorServer "
               "phone app: ws://PHONE:8080/sensors/connect?types=[...])")
DECODERS = ("auto", "imuedge", "imuedge-ble", "text", "sensorserver", "witmotion", "witmotion-ble")


def _source_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", required=True, metavar="SOURCE", help=SOURCE_HELP)
    p.add_argument("--decoder", choices=DECODERS, default="auto",
                   help="wire format (default auto: imuedge for serial/NUS and captures, imuedge-ble for the "
                        "BLE IMU service, sensorserver for WebSocket)")
    p.add_argument("--channels", help="text/vendor formats: column order, comma separated (e.g. "
                                      "acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z); default inferred from the line")
    p.add_argument("--acc-unit", default="m/s2", choices=("m/s2", "m/s^2", "g"), help="text: accelerometer unit")
    p.add_argument("--gyro-unit", default="rad/s", choices=("rad/s", "dps", "deg/s"), help="text: gyroscope unit")
    p.add_argument("--timestamp", choices=("ms", "us", "s"),
                   help="text: the lines start with a device timestamp column in this unit")
    p.add_argument("--rate", type=float, metavar="HZ",
                   help="the device's sample rate, for formats without timing (text without timestamps); "
                        "default: measured from arrival times over the first 2 s")
    p.add_argument("--no-hello", action="store_true",
                   help="serial: do not write the START command (binary) / newline (text) at connect")


def register(subparsers) -> None:
    s = subparsers.add_parser("stream", help="run a model bundle on a live IMU stream (serial, BLE, replay)",
                              description="Source -> decoder -> assembler (gaps, resampling, units) -> windows -> "
                                          "model -> JSON lines, with a latency / CPU / memory profile.")
    s.add_argument("--model", required=True, metavar="BUNDLE", help="exported bundle (folder or its imuedge.json)")
    _source_flags(s)
    s.add_argument("--out", metavar="FILE", help="predictions as JSON lines to FILE (default: stdout)")
    s.add_argument("--profile", metavar="FILE", help="write the profile JSON here, every --profile-every s and at exit")
    s.add_argument("--profile-every", type=float, default=10.0, metavar="S", help="seconds between profile writes (default 10)")
    s.add_argument("--live", action="store_true", help="redraw a profile table on stderr every second")
    s.add_argument("--threads", type=int, default=1, help="inference threads (default 1)")
    s.add_argument("--cpu", type=int, metavar="N",
                   help="pin the thread that predicts to CPU N (Linux; its effect on latency is measured by "
                        "benchmarks/stream_bench.py --phases pin)")
    s.add_argument("--max-gap", type=float, default=0.1, metavar="S",
                   help="gaps up to S seconds (default 0.1) are bridged by interpolation; windows spanning longer gaps are not "
                        "predicted (counted in windows_skipped_gap)")
    s.add_argument("--hop", type=int, metavar="N",
                   help="samples between window starts (default: the bundle's manifest); smaller = more predictions")
    s.add_argument("--queue", type=int, default=4, metavar="N", help="windows waiting for inference (default 4)")
    s.add_argument("--backpressure", choices=("drop", "block"),
                   help="queue full: drop the oldest window (default for live sources) or wait (default for replay)")
    s.add_argument("--smooth", type=int, default=0, metavar="K",
                   help="add a 'smoothed' class: majority vote of the last K predictions (0: off)")
    s.add_argument("--top-k", type=int, metavar="K", help="print the top K classes instead of all scores")
    s.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    s.add_argument("--max-outage", type=float, metavar="S", help="give up if the link stays down S seconds")
    _connect_flag(s)
    s.add_argument("--allow-upsample", action="store_true",
                   help="accept a stream slower than the model's rate (linear upsampling)")
    s.add_argument("--quiet", action="store_true", help="no table at exit")
    s.set_defaults(func=run_stream)

    r = subparsers.add_parser("record", help="capture a live IMU stream to a CSV recording (the data loaders' format)",
                              description="Source -> decoder -> a CSV recording in the format `imuedge train` and "
                                          "`imuedge data inspect` read (timestamps, SI units in the header, label, "
                                          "subject), written as samples arrive, so Ctrl-C or a crash keeps what "
                                          "was captured.")
    _source_flags(r)
    r.add_argument("--out", required=True, metavar="FILE.csv", help="recording to write")
    r.add_argument("--label", default="", help="activity label written on every row (e.g. walking)")
    r.add_argument("--subject", type=int, default=0, help="subject id written on every row")
    r.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl-C / end)")
    r.add_argument("--samples", type=int, metavar="N", help="stop after N samples")
    r.add_argument("--max-outage", type=float, metavar="S", help="give up if the link stays down S seconds "
                                                                  "(default: keep waiting until --duration)")
    _connect_flag(r)
    r.set_defaults(func=run_record)


def _connect_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--connect-timeout", type=float, default=60.0, metavar="S",
                   help="give up (exit 2) if the device cannot be opened for S seconds at the start "
                        "(default %(default)g; 0: wait indefinitely)")


def make_source_and_decoder(args):
    """(Source, decoder factory or None) from the shared flags."""
    from imuedge.firmware_bridge.profiles import decoder_for

    from .sources import SerialSource, parse_source, start_command

    src = parse_source(args.source, rate=args.rate)
    name = src.default_decoder if args.decoder == "auto" else args.decoder
    if isinstance(src, SerialSource) and not args.no_hello:
        src.hello = start_command() if name == "imuedge" else b"\n"
    if name is None:
        return src, None
    opts = {}
    if name == "text":
        opts = {"acc_unit": args.acc_unit, "gyro_unit": args.gyro_unit, "timestamp": args.timestamp}
        if args.channels:
            opts["channels"] = tuple(c.strip() for c in args.channels.split(",") if c.strip())
    elif name in ("sensorserver", "witmotion", "witmotion-ble") and args.channels:
        opts["channels"] = tuple(c.strip() for c in args.channels.split(",") if c.strip())
    if name == "sensorserver" and getattr(src, "sensor_type", None):  # a single-sensor WebSocket endpoint
        opts["sensor_type"] = src.sensor_type
    decoder_for(name, **opts)  # fail now on bad options
    return src, (lambda: decoder_for(name, **opts))


def _sigterm_as_interrupt():
    def handler(signum, frame):
        raise KeyboardInterrupt
    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        pass


def run_stream(args) -> int:
    from imuedge.bundle import BundleError, load_bundle

    from .assembler import StreamMismatch
    from .runner import RunConfig, StreamRunner, check_manifest_against_stream
    from .profiler import table
    from .sinks import JsonLinesSink, MajorityVote
    from .sources import SourceError

    try:
        src, factory = make_source_and_decoder(args)  # a mistyped source is said before a model is loaded
        predictor = load_bundle(args.model, threads=args.threads)
        chans = None
        if args.channels and (factory is not None):
            chans = tuple(c for c in ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
                          if c in args.channels.split(","))
        assembler = check_manifest_against_stream(
            predictor.manifest, chans, args.rate,
            {"max_gap_s": args.max_gap, "allow_upsample": args.allow_upsample})
        cfg = RunConfig(queue_size=args.queue, backpressure=args.backpressure, profile_path=args.profile,
                        profile_every=args.profile_every, live=args.live, duration=args.duration,
                        max_outage=args.max_outage, top_k=args.top_k, connect_timeout=args.connect_timeout,
                        cpu=args.cpu)
        runner = StreamRunner(src, factory, predictor, [], assembler=assembler, config=cfg, hop=args.hop)
        try:  # opened once the runner has checked every flag: a mistake truncates no earlier output
            sink = JsonLinesSink(args.out)
        except OSError as e:
            raise ValueError(f"--out {args.out}: {e.strerror or e}") from e
        runner.sinks = [MajorityVote(sink, args.smooth) if args.smooth else sink]
    except (BundleError, StreamMismatch, SourceError, ValueError) as e:
        print(f"imuedge stream: {e}", file=sys.stderr)
        return 2
    _sigterm_as_interrupt()
    rep = runner.run()
    if not args.quiet:
        print(table(rep), file=sys.stderr)
    if runner.error is not None:
        print(f"imuedge stream: {runner.error}", file=sys.stderr)
        return 2
    if rep.get("interrupted"):
        return 130
    if not rep["counters"].get("samples"):
        print(f"imuedge stream: no sample was received from {src.describe()}", file=sys.stderr)
        return 1
    return 0


def run_record(args) -> int:
    from .recorder import Recorder
    from .sources import SourceError

    try:
        src, factory = make_source_and_decoder(args)
    except (SourceError, ValueError) as e:
        print(f"imuedge record: {e}", file=sys.stderr)
        return 2
    rec = Recorder(src, factory, args.out, label=args.label, subject=args.subject, rate=args.rate,
                   connect_timeout=args.connect_timeout, max_outage=args.max_outage)
    _sigterm_as_interrupt()
    try:
        summary = rec.run(args.duration, args.samples)
    except (SourceError, ValueError, OSError) as e:
        print(f"imuedge record: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary), file=sys.stderr)
    if not summary["samples"]:
        print(f"imuedge record: no sample was received from {src.describe()}; nothing written", file=sys.stderr)
        return 1
    return 0
