"""The rigs' commands: `imuedge demo-stream` (the HAPT test subjects from the device simulator over a pty,
checked against offline predictions) and `imuedge firmware` (build the firmware, run it in emulation, regenerate
the shared vectors)."""
from __future__ import annotations

import sys
from pathlib import Path

from imuedge import firmware_bridge

BRIDGE = Path(firmware_bridge.__file__).resolve().parent  # check.sh and the firmware sources


def register(subparsers) -> None:
    d = subparsers.add_parser(
        "demo-stream", help="stream the HAPT test subjects over a pty serial link into a bundle; check vs offline",
        description="End-to-end check of the live runtime: every HAPT recording of the test subjects (default "
                    "subject split) is played by the device simulator on a pseudo-terminal as imuedge protocol "
                    "packets, streamed into the bundle with `imuedge stream`'s pipeline, and compared window by "
                    "window with offline predictions on the same samples (exact equality). Prints the profile.")
    d.add_argument("--model", required=True, metavar="BUNDLE", help="exported bundle (folder or its imuedge.json)")
    d.add_argument("--demo", choices=("hapt-test",), default="hapt-test",
                   help="what to stream (default hapt-test: all recordings of the HAPT test subjects)")
    d.add_argument("--out", default="demo_stream", metavar="DIR",
                   help="writes predictions.jsonl, profile.json and summary.json here (default ./demo_stream)")
    d.add_argument("--pace", type=float, default=100.0, metavar="X",
                   help="device speed, x real time (default 100: ~78 min of recordings in ~50 s)")
    d.add_argument("--max-seconds", type=float, metavar="S",
                   help="only the first S seconds of each recording (a quick check)")
    d.add_argument("--max-recordings", type=int, metavar="N", help="only the first N recordings")
    d.add_argument("--threads", type=int, default=1, help="inference threads (default 1)")
    d.set_defaults(func=run_demo)

    fw = subparsers.add_parser("firmware", help="build the firmware and run its checks (host, simavr, QEMU)",
                               description="Firmware bridge tooling.")
    fsub = fw.add_subparsers(dest="firmware_command", metavar="SUBCOMMAND")
    fw.set_defaults(func=lambda args: (fw.print_help(), 0)[1])
    chk = fsub.add_parser("check", help="firmware_bridge/check.sh: vectors, host C tests, ARM + AVR builds, "
                                        "simavr and QEMU end-to-end runs",
                          description="Build and test the firmware: the shared vectors are up to date, the host C "
                                      "unit tests pass (ASan/UBSan), the Cortex-M3 and AVR builds compile with "
                                      "warnings as errors, and both run in emulation (simavr, QEMU mps2-an385) "
                                      "against the Python decoder. Needs the Debian toolchains ./test.sh installs.")
    chk.set_defaults(func=run_check)
    vec = fsub.add_parser("vectors", help="regenerate the shared test vectors (vectors/*.json)",
                          description="Write firmware_bridge/vectors/*.json, the byte vectors the Python decoder, "
                                      "the C firmware and the phone app are all tested against, from the protocol "
                                      "spec as implemented in protocol.py; --check only compares.")
    vec.add_argument("--check", action="store_true", help="only check that they are up to date")
    vec.set_defaults(func=lambda args: __import__("imuedge.emulation.make_vectors", fromlist=["main"])
                     .main(["--check"] if args.check else []))


def run_demo(args) -> int:
    from imuedge.bundle import BundleError

    from .demo import stream_hapt_test_subjects

    try:
        summary = stream_hapt_test_subjects(args.model, args.out, pace=args.pace,
                                            max_seconds_per_recording=args.max_seconds,
                                            log=lambda m: print(m, file=sys.stderr, flush=True),
                                            max_recordings=args.max_recordings, threads=args.threads)
    except (BundleError, ValueError, RuntimeError, OSError) as e:
        print(f"imuedge demo-stream: {e}", file=sys.stderr)
        return 2
    return 0 if summary["ok"] else 1


def run_check(args) -> int:
    import os
    import subprocess

    # check.sh's Python steps run in this interpreter (the one `imuedge` was installed into)
    return subprocess.call(["bash", str(BRIDGE / "check.sh")], env={**os.environ, "PYTHON": sys.executable})
