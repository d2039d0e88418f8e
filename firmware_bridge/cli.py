"""`imuedge devices`: list, probe or decode devices and captures of their streams."""
from __future__ import annotations

import sys
from pathlib import Path

# the stream profiles of profiles.PROFILES, named here so that --help does not import numpy
PROFILE_NAMES = ("imuedge", "imuedge-ble", "text", "sensorserver", "witmotion", "witmotion-ble")


def register(subparsers) -> None:
    dev = subparsers.add_parser("devices", help="list, probe or decode IMU devices (serial, BLE, captures)",
                                description="Talk to a device speaking the imuedge wire protocol "
                                            "(firmware_bridge/PROTOCOL.md), or decode a capture of one.")
    sub = dev.add_subparsers(dest="devices_command", metavar="SUBCOMMAND")
    dev.set_defaults(func=lambda args: (dev.print_help(), 0)[1])
    lst = sub.add_parser("list", help="list serial ports and BLE devices that may stream IMU data",
                         description="Serial ports (pyserial) plus the paths given with --port, and BLE devices "
                                     "advertising the imuedge IMU service or the Nordic UART Service (bleak).")
    lst.add_argument("--port", action="append", default=[], metavar="PATH",
                     help="also list this path (e.g. a pty from socat or an emulator); repeatable")
    lst.add_argument("--ble-timeout", type=float, default=5.0, help="BLE scan seconds (default 5; 0 = no scan)")
    lst.add_argument("--all", action="store_true",
                     help="also serial ports without hardware behind them and BLE devices of any service")
    lst.set_defaults(func=run_list)
    dec = sub.add_parser("decode", help="decode a file of raw serial bytes (COBS frames): packets, gaps, errors",
                         description="Decode a capture (the bytes a serial port delivered, e.g. from `cat "
                                     "/dev/ttyACM0 > capture.bin`) with a stream profile and print its packets, "
                                     "sequence gaps and corrupt frames. Exit 1 when anything was corrupt.")
    dec.add_argument("capture", type=Path, help="file of bytes as received from the serial port")
    dec.add_argument("--show", type=int, default=5, help="print the first N packets (default 5)")
    dec.add_argument("--profile", default="imuedge", choices=sorted(PROFILE_NAMES),
                     help="stream format (firmware_bridge/profiles/; default %(default)s)")
    dec.set_defaults(func=run_decode)
    probe = sub.add_parser("probe", help="send GET_INFO to a device and print its answer",
                           description="Open a serial port (needs pyserial: pip install imuedge[device]) or a unix "
                                       "socket (QEMU -serial unix:PATH,server=on), send GET_INFO, print DEVICE_INFO.")
    where = probe.add_mutually_exclusive_group(required=True)
    where.add_argument("--serial", metavar="PORT", help="serial port, e.g. /dev/ttyACM0")
    where.add_argument("--unix", metavar="PATH", help="unix socket of an emulator's UART")
    probe.add_argument("--baud", type=int, default=115200,
                       help="serial baud rate (ignored by pseudo-terminals; default %(default)s)")
    probe.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the answer")
    probe.set_defaults(func=run_probe)


def summarise(packets, decoder, show: int = 5) -> str:
    from imuedge.firmware_bridge import protocol as P

    gaps = P.GapTracker()
    kinds: dict[str, int] = {}
    samples = overflow = 0
    for p in packets:
        gaps.update(p.seq)
        kinds[p.type.name] = kinds.get(p.type.name, 0) + 1
        if p.type == P.PacketType.DATA:
            samples += p.n_samples
            overflow += p.overflow_count
    lines = [f"packets: {len(packets)} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items())) or 'none'})",
             f"samples: {samples}; dropped on the device (overflow): {overflow}",
             f"lost packets (sequence gaps): {gaps.lost} in {len(gaps.gaps)} gap(s); out of order: {gaps.out_of_order}",
             f"corrupt frames: {decoder.corrupt}" + (f" {dict(decoder.errors)}" if decoder.corrupt else "")]
    for p in packets[:show]:
        if p.type == P.PacketType.DATA:
            lines.append(f"  seq {p.seq} DATA t={p.timestamp_us} us, {p.n_samples} x {list(p.channels)}, "
                         f"period {p.sample_period_us} us, flags 0x{int(p.flags):02x}")
        else:
            lines.append(f"  seq {p.seq} {p!r}")
    return "\n".join(lines)


def run_list(args) -> int:
    import os
    import stat

    try:
        from serial.tools import list_ports
    except ImportError:
        print("serial: pyserial is not installed (pip install imuedge[device]); only --port paths are listed")
        ports = []
    else:
        ports = [p for p in list_ports.comports() if args.all or (p.hwid and p.hwid != "n/a")]
    print("serial ports:")
    shown = 0
    for p in ports:
        ids = f" [{p.vid:04x}:{p.pid:04x}]" if p.vid is not None and p.pid is not None else ""
        print(f"  {p.device}  {p.description or ''}{ids}")
        shown += 1
    for path in args.port:
        try:
            kind = "character device" if stat.S_ISCHR(os.stat(path).st_mode) else "not a character device"
        except OSError as e:
            kind = f"not found ({e.strerror})"
        print(f"  {path}  (given; {kind})")
        shown += 1
    if not shown:
        print("  none found (a board on USB shows up as /dev/ttyACM* or /dev/ttyUSB*; --all lists every port)")
    if args.ble_timeout <= 0:
        return 0
    from imuedge.firmware_bridge import ble

    try:
        devices = ble.scan(args.ble_timeout, all_devices=args.all)
    except ble.BLEUnavailable as e:
        print(f"BLE: not scanned: {e}")
        return 0
    print(f"BLE devices ({args.ble_timeout:g} s scan, imuedge IMU service or Nordic UART Service):")
    for d in devices:
        print(f"  {d.address}  {d.name or '(no name)'}  rssi {d.rssi}  {d.kind}  -> profile {d.profile}")
    if not devices:
        print("  none found")
    return 0


def summarise_blocks(blocks, decoder, show: int = 5) -> str:
    st = decoder.stats
    samples = sum(b.n_samples for b in blocks)
    lines = [f"blocks: {len(blocks)}; samples: {samples}; channels: {list(blocks[0].channels) if blocks else []}",
             f"stats: " + ", ".join(f"{k} {v}" for k, v in st.items()
                                    if k not in ("bad_lines", "errors", "last_error") and v)]
    for lineno, text in st.get("bad_lines", [])[:show]:
        lines.append(f"  bad input #{lineno}: {text!r}")
    if st.get("last_error"):
        lines.append(f"last error: {st['last_error']}")
    return "\n".join(lines)


def run_decode(args) -> int:
    from imuedge.firmware_bridge import protocol as P

    try:
        raw = args.capture.read_bytes()
    except OSError as e:
        print(f"imuedge devices decode: cannot read {args.capture}: {e.strerror or e}", file=sys.stderr)
        return 2
    if args.profile != "imuedge":
        from imuedge.firmware_bridge.profiles import decoder_for

        d = decoder_for(args.profile)
        blocks = d.feed(raw)
        if hasattr(d, "flush"):
            blocks += d.flush()
        print(summarise_blocks(blocks, d, args.show))
        return 1 if d.stats["corrupt"] else 0

    dec = P.FrameDecoder()
    packets = dec.feed(raw)
    print(summarise(packets, dec, args.show))
    return 1 if dec.corrupt else 0


def run_probe(args) -> int:
    import socket
    import time

    from imuedge.firmware_bridge import protocol as P

    if args.unix:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(args.unix)
        except OSError as e:
            print(f"imuedge devices probe: cannot connect to {args.unix}: {e.strerror or e}", file=sys.stderr)
            return 2
        s.settimeout(0.1)
        write, close = s.sendall, s.close

        def read():
            try:
                return s.recv(4096)
            except socket.timeout:
                return b""
    else:
        try:
            import serial
        except ImportError:
            print("error: --serial needs pyserial (pip install imuedge[device])", file=sys.stderr)
            return 2
        try:
            port = serial.Serial(args.serial, args.baud, timeout=0.1)
        except (serial.SerialException, OSError, ValueError) as e:
            why = e.__context__.strerror if isinstance(e.__context__, OSError) and e.__context__.strerror else e
            print(f"imuedge devices probe: cannot open {args.serial}: {why}", file=sys.stderr)
            return 2
        write, read, close = port.write, (lambda: port.read(4096)), port.close
    try:
        dec = P.FrameDecoder()
        write(P.frame(P.encode_command(P.CommandPacket(1, P.Command.GET_INFO))))
        deadline = time.monotonic() + args.timeout
        info = ack = None
        while time.monotonic() < deadline and not (info and ack):
            for p in dec.feed(read()):
                if p.type == P.PacketType.DEVICE_INFO:
                    info = p
                elif p.type == P.PacketType.ACK and p.acked_seq == 1:
                    ack = p
        if not info:
            print(f"no DEVICE_INFO within {args.timeout} s (corrupt frames: {dec.corrupt})", file=sys.stderr)
            return 1
        chans = list(P.mask_to_channels(info.active_mask))
        print(f"{info.name}: protocol v{info.version[0]}.{info.version[1]}, "
              f"{1e6 / info.sample_period_us:g} Hz, channels {chans}, ±{info.acc_range_g} g, "
              f"±{info.gyro_range_dps} dps, {'streaming' if info.streaming else 'stopped'}, "
              f"up to {info.max_samples_per_packet} samples/packet")
        return 0
    finally:
        close()
