"""The one `imuedge` command. Each component registers its own subcommands.

A component module exposes ``register(subparsers)`` which adds one or more
subparsers, each with ``set_defaults(func=callable(args) -> int)``. Heavy
imports (torch, runtimes) happen inside those callables, so ``--help`` is fast.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from imuedge import __version__

# Modules that register subcommands, in the order they appear in --help.
COMMAND_MODULES = [
    "imuedge.train.cli",  # run, pretrain, fewshot
    "imuedge.train.diffusion.cli",  # diffusion, generate
    "imuedge.data.cli",  # data
    "imuedge.export.cli",  # export
    "imuedge.edge_runtime.cli",  # stream, record
    "imuedge.firmware_bridge.cli",  # devices, firmware
    "imuedge.android_demo.serve",  # demo-app
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imuedge",
        description="imuedge: train IMU models from few labels, export them to ExecuTorch/LiteRT/ONNX, "
                    "and run them on a live sensor stream.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `imuedge COMMAND --help` for the flags of one command.",
    )
    parser.add_argument("--version", action="version", version=f"imuedge {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (anywhere on the line; or IMUEDGE_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # component not built yet
                continue
            raise
        module.register(sub)
    return parser


def one_line(e: BaseException, limit: int = 400) -> str:
    """An exception as one line: its message's first line (shortened), or its type when it has none."""
    text = str(e).strip()
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        text = f"{e.filename}: {e.strerror}"
    first = text.splitlines()[0] if text else type(e).__name__
    return first if len(first) <= limit else first[:limit] + f"... ({len(first)} characters)"


def user_error(e: BaseException) -> bool:
    """Errors that a user's input or machine causes -- a bad file, a missing device, a wrong option: OSError,
    ValueError and imuedge's own error classes (exit 2). Anything else is a bug in imuedge (exit 1)."""
    return isinstance(e, (OSError, ValueError)) or type(e).__module__.startswith("imuedge")


# Packages that come with an extra, not with the core: a command that needs one in an install without it
# (a device install has no torch) says which extra to install.
EXTRA_OF = {"torch": "train,export", "torchao": "export", "executorch": "export", "onnx": "export", "onnxscript": "export",
            "litert_torch": "export", "ai_edge_quantizer": "export", "matplotlib": "train", "tqdm": "train",
            "serial": "device", "bleak": "device", "websockets": "device", "onnxruntime": "device",
            "ai_edge_litert": "device", "pyarrow": "parquet"}


def missing_extra(e: BaseException) -> str | None:
    """The one-line advice for an import of a package this install lacks, or None."""
    if not isinstance(e, ModuleNotFoundError) or not e.name:
        return None
    package = e.name.split(".")[0]
    extra = EXTRA_OF.get(package)
    if extra is None:
        return None
    return f"this needs the Python package {package!r}, which this install lacks: pip install 'imuedge[{extra}]'"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("IMUEDGE_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - one line per error; --debug for the traceback
        if debug:
            raise
        advice = missing_extra(e)
        if advice:
            print(f"imuedge {args.command}: {advice}", file=sys.stderr)
            return 2
        if user_error(e):
            print(f"imuedge {args.command}: {one_line(e)}", file=sys.stderr)
            return 2
        print(f"imuedge {args.command}: internal error: {type(e).__name__}: {one_line(e)} "
              f"(run with --debug or IMUEDGE_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
