"""A device install: a fresh venv with only ``imuedge[device]``, made the way a user would make it.

``make_device_venv(folder)`` creates a venv without pip and has this environment's pip install the
project into it with the ``device`` extra and ``constraints.txt``, by pip's ordinary resolver: whatever
the core or a device dependency needs is pulled in, so a dependency on torch would be installed (and
the caller can see it). The wheel is built from a copy of the working tree (the tree gets no build/
folder). pip's cache is used as usual. Used by ``tests/edge_runtime/test_device_install.py`` and
``benchmarks/cli_start_bench.py``.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER_SIDE = ("torch", "executorch", "torchao", "litert-torch")
NOT_COPIED = (".venv", ".git", "build", "*.egg-info", "node_modules", "__pycache__", ".cache", "reports", "runs",
              "tests", "results")


def make_device_venv(folder: str | Path, extra: str = "device") -> Path:
    """Create ``folder`` as a venv holding ``imuedge[extra]``; returns its python (an absolute path: callers
    run it from other folders)."""
    folder = Path(folder).resolve()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder / "venv")], check=True)
    python = folder / "venv" / "bin" / "python"
    src = folder / "src" / "imuedge"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*NOT_COPIED))
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                        "--disable-pip-version-check", "-c", str(ROOT / "constraints.txt"), f"{src}[{extra}]"],
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"pip install imuedge[{extra}] into {folder} failed: {r.stderr[-3000:]}")
    shutil.rmtree(src.parent)
    return python


def installed(python: str | Path) -> dict[str, str]:
    """{distribution name (lower case): version} of the venv whose python this is."""
    out = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "list", "--format", "json"],
                         capture_output=True, text=True, check=True).stdout
    return {p["name"].lower(): p["version"] for p in json.loads(out)}
