"""Checkpoints: written atomically, loaded with ``weights_only=True``.

A checkpoint is a plain dict of tensors and JSON-able values, so it loads
without executing pickled code:

    {"format": "imuedge-checkpoint", "version": 1,
     "kind": "classifier" | "encoder" | "moco" | ...,
     "model": {"name": ..., "config": {...}},   # enough to rebuild the module
     "state_dict": {...},
     "window": WindowSpec.to_dict(),             # input contract
     "label_names": {"0": "walking", ...},       # classifiers
     "train_state": {...},                       # optimizer/step for resume
     "provenance": {"code_version", "command", "seed", "data", ...}}
"""
from __future__ import annotations

import os
import pickle
import re
import subprocess
from pathlib import Path

import torch

from imuedge.atomic import atomic_write

FORMAT = "imuedge-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated, foreign or from a newer schema."""


def code_version() -> str:
    """Package version plus the git commit of the source tree when there is one, as it was when this process
    first asked (``_CODE_VERSION``, read when this module is imported): a checkpoint records the code that
    ran, not a commit made while a long run trained."""
    global _CODE_VERSION
    if _CODE_VERSION is None:
        _CODE_VERSION = _read_code_version()
    return _CODE_VERSION


def _read_code_version() -> str:
    from imuedge import __version__

    try:
        root = Path(__file__).resolve().parent.parent
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha, dirty = "", ""
    return f"{__version__}+{sha}{'.dirty' if dirty else ''}" if sha else __version__


_CODE_VERSION: str | None = None
code_version()


def provenance(**extra) -> dict:
    from imuedge.command_line import command_line

    return {"code_version": code_version(), "command": command_line(),
            "torch": str(torch.__version__), **extra}


def save(obj: dict, path: str | os.PathLike) -> Path:
    """Write ``obj`` to ``path`` atomically: a temp file in the same folder, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = {"format": FORMAT, "version": VERSION, **obj}
    return atomic_write(path, lambda f: torch.save(obj, f), binary=True)


def load(path: str | os.PathLike) -> dict:
    """Load a checkpoint safely (no pickled code runs) or raise CheckpointError saying why."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        if not found:  # not a torch file at all
            raise CheckpointError(f"{path}: cannot be read as a checkpoint (not a PyTorch file); "
                                  f"it may be truncated or not an imuedge checkpoint") from e
        what = f" ({found.group(1)})"  # a pickled object that loading would have to execute
        raise CheckpointError(f"{path}: refused: it holds a pickled Python object{what} that loading would have to "
                              f"run; imuedge checkpoints hold only tensors and plain values (weights_only)") from e
    except Exception as e:  # truncated zip, not a torch file, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        first = first.split(". ")[0].rstrip(".")[:200]  # the reader's first sentence, not its advice
        raise CheckpointError(f"{path}: cannot be read as a checkpoint ({type(e).__name__}: {first}); "
                              f"it may be truncated or not an imuedge checkpoint") from e
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an imuedge checkpoint (no 'format': '{FORMAT}')")
    if int(obj.get("version", 0)) > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {obj['version']} is newer than this "
                              f"imuedge understands ({VERSION}); upgrade imuedge")
    return obj
