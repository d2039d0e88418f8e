"""The bundle manifest (``imuedge.json``): its schema, checked field by field on load, and its binding.

A bundle's manifest is trusted only as far as it is checked. ``check_manifest`` validates
types and required fields (every problem named by its field path, in one line); the
runtime then checks that the model file's own input and output shapes agree with it
(``imuedge/bundle.py``). ``binding`` ties the fields a prediction depends on -- the
format and precision, the channel order, rate, window, batch and the output (class
names) -- to the artifact's sha256: the exporter records it under ``fingerprint``, and a manifest edited afterwards
(channels reordered, class names changed) no longer matches. The fingerprint also holds
a few probe windows and the class the model gave each (``fingerprint.probe``): the
loader runs them again in the manifest's channel order, so a manifest that was edited
*and* re-bound is still caught by what the model does.

Torch-free: the device side validates bundles with the standard library and numpy.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from imuedge.window import CHANNELS, WindowSpec

SCHEMA = "imuedge-bundle"
SCHEMA_VERSION = 1
MANIFEST = "imuedge.json"
FORMATS = ("pte", "tflite", "onnx", "torch")
TASKS = ("classify", "embed", "generate")
PRECISIONS = ("fp32", "int8")


class BundleError(RuntimeError):
    """A bundle that cannot be trusted or read: bad hash, newer schema, a malformed manifest, a model file
    that does not load or does not match its manifest."""


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _short(v, limit: int = 60) -> str:
    text = repr(v)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


class _Checker:
    def __init__(self, path):
        self.path = path

    def fail(self, field: str, problem: str):
        raise BundleError(f"{self.path}: manifest field '{field}' {problem}")

    def get(self, d: dict, key: str, where: str, kind: str, test, optional: bool = False):
        field = f"{where}.{key}" if where else key
        if key not in d:
            if optional:
                return None
            self.fail(field, f"is missing (expected {kind})")
        value = d[key]
        if not test(value):
            self.fail(field, f"must be {kind}, got {_short(value)}")
        return value


def check_manifest(manifest, path: str | Path = MANIFEST) -> dict:
    """``manifest`` (parsed JSON) if it follows the schema, else ``BundleError`` naming the field."""
    c = _Checker(path)
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise BundleError(f"{path}: not an imuedge bundle manifest (no 'schema': '{SCHEMA}')")
    version = c.get(manifest, "schema_version", "", "an integer", _is_int)
    if version > SCHEMA_VERSION:
        raise BundleError(f"{path}: bundle schema version {version} is newer than this imuedge understands "
                          f"({SCHEMA_VERSION}); upgrade imuedge to load it")
    if version < 1:
        c.fail("schema_version", f"must be 1..{SCHEMA_VERSION}, got {version}")
    task = c.get(manifest, "task", "", f"one of {list(TASKS)}", lambda v: v in TASKS)
    c.get(manifest, "format", "", f"one of {list(FORMATS)}", lambda v: v in FORMATS)
    c.get(manifest, "precision", "", f"one of {list(PRECISIONS)}", lambda v: v in PRECISIONS)

    art = c.get(manifest, "artifact", "", "an object", lambda v: isinstance(v, dict))
    c.get(art, "file", "artifact", "a file name inside the bundle folder",
          lambda v: isinstance(v, str) and v not in ("", ".", "..") and "/" not in v and "\\" not in v)
    c.get(art, "sha256", "artifact", "64 hex digits",
          lambda v: isinstance(v, str) and len(v) == 64 and all(ch in "0123456789abcdef" for ch in v))

    inp = c.get(manifest, "input", "", "an object", lambda v: isinstance(v, dict))
    if task in ("classify", "embed") or "channels" in inp:
        c.get(inp, "channels", "input", f"a list of channel names from {list(CHANNELS)}, in that order",
                         lambda v: isinstance(v, list) and len(v) > 0 and all(x in CHANNELS for x in v)
                         and len(set(v)) == len(v) and [CHANNELS.index(x) for x in v] == sorted(
                             CHANNELS.index(x) for x in v))
        c.get(inp, "sample_rate_hz", "input", "a positive number", lambda v: _is_number(v) and v > 0)
        c.get(inp, "window", "input", "a positive integer", lambda v: _is_int(v) and v > 0)
        c.get(inp, "hop", "input", "a positive integer", lambda v: _is_int(v) and v > 0)
    c.get(inp, "batch", "input", "a positive integer or null", lambda v: v is None or (_is_int(v) and v > 0),
          optional=True)

    out = c.get(manifest, "output", "", "an object", lambda v: isinstance(v, dict))
    if task == "classify":
        c.get(out, "class_names", "output", "a non-empty list of distinct strings",
              lambda v: isinstance(v, list) and v and all(isinstance(x, str) for x in v) and len(set(v)) == len(v))
    elif task == "embed":
        c.get(out, "embedding_size", "output", "a positive integer", lambda v: _is_int(v) and v > 0)
    for key in ("quantization",):
        c.get(manifest, key, "", "an object or null", lambda v: v is None or isinstance(v, dict), optional=True)
    for key in ("backend", "parity", "provenance", "fingerprint"):
        c.get(manifest, key, "", "an object", lambda v: isinstance(v, dict), optional=True)
    return manifest


def binding(manifest: dict) -> str:
    """sha256 over the artifact's sha256 and every manifest field a prediction depends on."""
    inp = manifest.get("input", {})
    bound = {"artifact_sha256": manifest.get("artifact", {}).get("sha256"), "task": manifest.get("task"),
             "format": manifest.get("format"), "precision": manifest.get("precision"),
             "input": {k: inp.get(k) for k in ("channels", "sample_rate_hz", "window", "batch")},
             "output": manifest.get("output")}
    return hashlib.sha256(json.dumps(bound, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def check_binding(manifest: dict, path: str | Path = MANIFEST) -> None:
    """Refuse a manifest whose input or output fields were edited after export (bundles that predate the
    fingerprint have none to check)."""
    recorded = (manifest.get("fingerprint") or {}).get("binding_sha256")
    if recorded is not None and recorded != binding(manifest):
        raise BundleError(f"{path}: the manifest's input or output fields (channels, rate, window, class names) "
                          f"are not those this model file was exported with (binding {binding(manifest)[:12]} != "
                          f"recorded {str(recorded)[:12]}); re-export the model instead of editing its manifest")


def window_spec(manifest: dict) -> WindowSpec:
    """The input contract of a checked classify / embed manifest (channels, rate, window, hop) as a
    ``WindowSpec``: what the runtime reads the window length, hop, rate and channel order from."""
    return WindowSpec.from_dict(manifest["input"])
