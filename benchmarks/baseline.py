"""Earlier code beside today's in one benchmark run: a file of this repository as it was at a commit."""
from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_at(path: str, commit: str, package: str | None = None) -> types.ModuleType:
    """``path`` (a file of this repository) as it was at ``commit`` (``git show``), as a module. ``package``
    (for example ``imuedge.firmware_bridge.profiles``) resolves the file's relative imports, to today's code."""
    src = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    mod = types.ModuleType(f"{Path(path).stem}_{commit}")
    mod.__package__ = package
    sys.modules[mod.__name__] = mod  # dataclasses look their module up there
    exec(compile(src, f"{commit}:{path}", "exec"), mod.__dict__)
    return mod
