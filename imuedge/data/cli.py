"""`imuedge data`: look at a dataset before training on it; how every data-taking command shows warnings."""
from __future__ import annotations

import contextlib
import sys
import warnings

from imuedge.window import ACC_UNITS, GYRO_UNITS


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="inspect datasets (HAPT or a folder of CSV recordings)",
                                 description="Inspect datasets: HAPT or a folder of your CSV recordings.")
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data.set_defaults(func=lambda args: (data.print_help(), 0)[1])

    inspect = sub.add_parser(
        "inspect", help="summarise recordings, subjects, classes and durations; list load errors",
        description="Load a dataset the way training would and summarise it. PATH is a folder of CSV "
                    "recordings (format: see `imuedge.data.recordings`) or the word `hapt`.")
    inspect.add_argument("path", metavar="PATH_OR_hapt", help="folder of recordings, or `hapt` for UCI HAPT")
    add_recording_flags(inspect)
    inspect.add_argument("--window", type=int, default=128,
                         help="window length in samples, to count windows (default: 128)")
    inspect.add_argument("--hop", type=int, default=64,
                         help="hop between windows in samples, to count windows (default: 64)")
    inspect.set_defaults(func=run_inspect)


def warning_line(message) -> str:
    """A warning as every command prints it: ``warning: <message>`` on one line."""
    return "warning: " + " ".join(str(message).split())


@contextlib.contextmanager
def warnings_as_lines(out=None):
    """Inside the block, each warning is printed as it comes as one ``warning: ...`` line (to ``out``, default
    stderr) instead of Python's ``path:line: Category: message`` plus a source line."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(warning_line(message), file=out or sys.stderr, flush=True)

    with warnings.catch_warnings():  # the filters stay as they are: only how a shown warning looks changes
        warnings.showwarning = show
        yield


def add_recording_flags(p, applies: str = "") -> None:
    """How to read a folder of CSV recordings, the same flags on every command that reads one: --rate,
    --acc-unit, --gyro-unit, --strict and the plausibility bounds. ``applies``: what the flags apply to, put
    before each help text (``"--calibration FOLDER: "``) when the command also takes other data."""
    p.add_argument("--rate", type=float, metavar="HZ",
                   help=f"{applies}sample rate of the files; needed when they have no timestamp column (default: "
                        f"from the timestamps)")
    p.add_argument("--acc-unit", choices=list(ACC_UNITS),
                   help=f"{applies}accelerometer unit of the files when the header does not say (default m/s2)")
    p.add_argument("--gyro-unit", choices=list(GYRO_UNITS),
                   help=f"{applies}gyroscope unit of the files when the header does not say (default rad/s)")
    p.add_argument("--strict", action="store_true",
                   help=f"{applies}stop at the first malformed file (default: skip it with a message and go on)")
    add_bound_flags(p)


def add_bound_flags(p) -> None:
    """--max-acc / --max-gyro: the physical plausibility bounds of the loader (RecordingsConfig)."""
    from imuedge.window import MAX_ACC, MAX_GYRO

    p.add_argument("--max-acc", type=float, default=MAX_ACC, metavar="M/S2",
                   help="largest plausible |acceleration| in m/s^2; a file with a larger value is refused as a "
                        "wrong unit or a corrupt value (default %(default).4g = 50 g; raise it for impact sensors)")
    p.add_argument("--max-gyro", type=float, default=MAX_GYRO, metavar="RAD/S",
                   help="largest plausible |angular rate| in rad/s (default %(default).4g = 4000 deg/s)")


def run_inspect(args) -> int:
    from imuedge.data.recordings import RecordingFormatError, load_recordings

    errors: list = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if args.path.lower() == "hapt":
                from imuedge.data.hapt import load_hapt

                ds = load_hapt()
            else:
                ds, errors = load_recordings(args.path, rate=args.rate, acc_unit=args.acc_unit,
                                             gyro_unit=args.gyro_unit, strict=args.strict,
                                             max_acc=args.max_acc, max_gyro=args.max_gyro)
        except (RecordingFormatError, FileNotFoundError, ValueError) as e:
            print(f"error: {e}")
            return 2
    print(summarise(ds, args.window, args.hop))
    for w in caught:
        print(warning_line(w.message))
    for e in errors:
        print(f"error: {e}")
    if errors:
        print(f"{len(errors)} file(s) not loaded")
    return 1 if errors else 0


def summarise(ds, window: int = 128, hop: int = 64) -> str:
    """A few lines about a Dataset: size, subjects, channels, per-class time and windows."""
    import numpy as np

    from imuedge.data.windows import make_windows

    recs = ds.recordings
    if not recs:
        return f"{ds.name}: no recordings loaded"
    total = sum(r.duration_s for r in recs)
    lines = [
        f"dataset     {ds.name}",
        f"recordings  {len(recs)} ({total / 60:.1f} min)",
        f"subjects    {len(ds.subjects)}: {', '.join(ds.subject_names.values())}",
        f"channels    {' '.join(ds.channels)} at {ds.sample_rate_hz:g} Hz",
    ]
    labels = np.concatenate([r.labels for r in recs])
    ws = make_windows(ds, window, hop)
    counts = dict(zip(*np.unique(ws.y, return_counts=True))) if len(ws) else {}
    lines.append(f"classes     (seconds labelled, windows of {window} hop {hop})")
    for c in sorted(int(v) for v in np.unique(labels)):
        name = "(unlabelled)" if c < 0 else ds.label_names.get(c, str(c))
        secs = float(np.sum(labels == c)) / ds.sample_rate_hz
        lines.append(f"  {c:>3} {name:<22} {secs:9.1f} s  {counts.get(c, 0):6d} windows")
    return "\n".join(lines)
