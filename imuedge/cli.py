"""The one `imuedge` command. Each component registers its own subcommands.

A component module exposes ``register(subparsers)`` which adds one or more
subparsers, each with ``set_defaults(func=callable(args) -> int)``. Heavy
imports (torch, runtimes) happen inside those callables. ``imuedge --help``
imports no component: it lists ``COMMANDS``; ``imuedge COMMAND ...`` imports only
the module that registers COMMAND (the training commands read their defaults
from torch-importing config modules, and a device install has no torch).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from imuedge import __version__

# Every subcommand: the module that registers it and its one-line help, in the order of --help
# (tests/imuedge/test_cli.py checks this table against what the modules register).
COMMANDS = {
    "run": ("imuedge.train.cli", "the main job: HAPT -> IMG2IMU pretraining -> few-shot report"),
    "pretrain": ("imuedge.train.cli",
                 "pretrain an encoder: IMG2IMU (MoCo v2) or MAE (--method mae); resumable, DDP-ready"),
    "train": ("imuedge.train.cli", "few-shot classifier from labelled recordings (probe on a frozen encoder)"),
    "eval": ("imuedge.train.cli", "score a classifier checkpoint on labelled recordings"),
    "diffusion": ("imuedge.train.diffusion.cli", "diffusion generators (STFT-domain; latent; VQ): train, distil, export"),
    "generate": ("imuedge.train.diffusion.cli", "synthetic windows as CSV recordings the data layer loads"),
    "data": ("imuedge.data.cli", "inspect datasets (HAPT or a folder of CSV recordings)"),
    "export": ("imuedge.export.cli", "export a checkpoint to .pte / .tflite / .onnx bundles"),
    "stream": ("imuedge.edge_runtime.cli", "run a model bundle on a live IMU stream (serial, BLE, replay)"),
    "demo-stream": ("imuedge.emulation.cli",
                    "stream the HAPT test subjects over a pty serial link into a bundle; check vs offline"),
    "record": ("imuedge.edge_runtime.cli", "capture a live IMU stream to a CSV recording (the data loaders' format)"),
    "devices": ("imuedge.firmware_bridge.cli", "list, probe or decode IMU devices (serial, BLE, captures)"),
    "firmware": ("imuedge.emulation.cli", "build the firmware and run its checks (host, simavr, QEMU)"),
    "demo-app": ("imuedge.android_demo.serve", "serve the phone app (live view + benchmark) and bundles"),
}
COMMAND_MODULES = list(dict.fromkeys(module for module, _ in COMMANDS.values()))


def build_parser(commands: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser with every component's subcommands (``commands`` None), or with those of ``commands`` only
    and the others listed by name and help (what ``main`` uses, so that one command imports one module)."""
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
    if commands is None or any(c not in COMMANDS for c in commands):  # an unknown word: let every module try
        modules = COMMAND_MODULES
    else:
        modules = list(dict.fromkeys(COMMANDS[c][0] for c in commands))
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # component not built yet
                continue
            raise
        module.register(sub)
    for name, (_, help_line) in COMMANDS.items():
        if name not in sub.choices:
            sub.add_parser(name, help=help_line, add_help=False)
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
EXTRA_OF = {"torch": "train,export", "torchao": "export", "executorch": "export", "onnx": "export",
            "onnxscript": "export", "litert_torch": "export", "ai_edge_quantizer": "export", "matplotlib": "train",
            "tqdm": "train", "serial": "device", "bleak": "device", "websockets": "device", "onnxruntime": "device",
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
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        parser = build_parser([command] if command else [])
    except ModuleNotFoundError as e:
        advice = missing_extra(e)
        if advice is None or debug:
            raise
        print(f"imuedge {command}: {advice}", file=sys.stderr)
        return 2
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
