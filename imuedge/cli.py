"""The one `imuedge` command. Each component registers its own subcommands.

A component module exposes ``register(subparsers)`` which adds one or more
subparsers, each with ``set_defaults(func=callable(args) -> int)``. Heavy
imports (torch, runtimes) happen inside those callables, so ``--help`` is fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from imuedge import __version__

# Modules that register subcommands, in the order they appear in --help.
COMMAND_MODULES = [
    "imuedge.train.cli",  # run, pretrain, fewshot
    "imuedge.data.cli",  # data
    "imuedge.export.cli",  # export
    "imuedge.edge_runtime.cli",  # stream, record
    "imuedge.firmware_bridge.cli",  # devices, firmware
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


def main(argv: list[str] | None = None) -> int:
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


if __name__ == "__main__":
    sys.exit(main())
