"""The command that is running, written so that a reader can run it again from the repository.

``command_line()`` is what checkpoints, bundles and reports record as their ``command``:
the program as it is invoked (``imuedge`` rather than ``/somewhere/.venv/bin/imuedge``,
``python -m benchmarks.export_bench`` rather than a script path), and every argument that
is a path inside the current folder or the repository written relative to it. Paths
elsewhere (a data folder the user named) are kept as given.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


def _program(argv0: str, this_process: bool) -> str:
    spec = getattr(sys.modules.get("__main__"), "__spec__", None) if this_process else None
    if spec is not None and spec.name and spec.name != "__main__":  # python -m package.module
        return f"python -m {spec.name.removesuffix('.__main__')}"
    if argv0.endswith(".py"):
        return f"python {relative_path(argv0)}"
    return Path(argv0).name or argv0


def relative_path(arg: str) -> str:
    """``arg`` relative to the current folder or the repository when it is an absolute path inside one."""
    if not os.path.isabs(arg):
        return arg
    path = Path(arg)
    for base in (Path.cwd(), REPOSITORY):
        try:
            return str(path.relative_to(base)) or "."
        except ValueError:
            continue
    return arg


def command_line(argv: list[str] | None = None) -> str:
    """``argv`` (default: this process's ``sys.argv``) as a command to run from the repository."""
    this_process = argv is None
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return ""
    return " ".join([_program(argv[0], this_process)] + [relative_path(a) for a in argv[1:]])
