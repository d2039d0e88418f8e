"""The sha256 of a file, read in 1 MiB pieces: what a bundle's manifest records of its model file and a
checkpoint's provenance of its weights. Standard library only (the device install has no torch)."""
from __future__ import annotations

import hashlib
import os


def sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of the file at ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
