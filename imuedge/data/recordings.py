"""Your own recordings: a folder of CSV files, one file per recording.

Format
------
* One recording per file, ``*.csv`` (UTF-8, comma separated, a header row,
  one row per sample). ``*.parquet`` files with the same columns are read
  too when ``pyarrow`` is installed. Files are read in name order; the file
  name without its extension is the recording id.
* Sensor columns: any of ``acc_x acc_y acc_z gyro_x gyro_y gyro_z``, in any
  order (output is always in that canonical order; names are
  case-insensitive). All files get the same channels: the ``channels``
  option, else the set most files have; a file lacking one is an error, a
  file with more drops the extra ones (with a warning). A unit may be written
  in the header, ``acc_x[g]`` or ``gyro_z[dps]``; otherwise the ``acc_unit``
  / ``gyro_unit`` options apply (default ``m/s2`` and ``rad/s``).
  Accelerometer units: ``g``, ``m/s2`` (``m/s^2``); gyroscope units:
  ``rad/s``, ``dps`` (``deg/s``). Values are converted to m/s^2 and rad/s.
  A file whose acceleration magnitude looks like the wrong unit (about 1
  m/s^2, or over 50) gets a warning. A value beyond the physically
  plausible range (``max_acc``, default 50 g = 490 m/s^2; ``max_gyro``,
  default 4000 deg/s = 69.8 rad/s; ``imuedge.window.MAX_ACC`` /
  ``MAX_GYRO``) makes the file an error naming line and column: a wrong
  unit or a corrupt value, never a motion. Raise the options for a sensor
  that really reads more (an impact accelerometer).
* ``label`` (optional): an activity name (``walking``) or an integer id
  (``3``, or ``3.0``); an empty cell (or ``-1``) is an unlabelled sample.
  Names found in the ``label_names`` option keep its ids; other names get
  new ids, in alphabetical order, after the largest id in use.
* ``subject`` (optional): the subject's id, the same on every row of a file:
  any text (``p01``, ``w10``) or a non-negative integer (``7``; ``07`` is the
  same subject). Integer ids are the subject numbers; text ids are numbered
  after the largest integer id, in alphabetical order, and the Dataset keeps
  the names (``Dataset.subject_names``). Without the column the recording's
  subject is 0.
* Timing: a ``timestamp`` column in seconds (``timestamp[ms]``, ``[us]``,
  ``[ns]`` for other units), strictly increasing, or no timestamp and the
  ``rate`` option (Hz). With both, the rate the timestamps show (one over
  their median step) must agree with ``rate`` within 2%. Without ``rate`` a
  file's rate is its timestamps' rate, rounded to a whole Hz when within 2%.
  When the timestamps stray more than half a sample from a uniform grid
  (dropped samples, drift), the file is resampled onto the grid by linear
  interpolation, with a warning; samples interpolated inside a gap of more
  than 3 sample periods are marked unlabelled, so no window spans it.
  A file whose rate differs by more than 2% from the dataset's (the ``rate``
  option, else the first file's) is resampled to it (anti-aliased), with a
  warning.
* Blank lines and lines starting with ``#`` (comments, also before the
  header) are skipped; line numbers in errors count them. Any other
  malformed input (a bad number, a missing or unknown column, a ragged row,
  a non-increasing timestamp, an unknown unit) is a ``RecordingFormatError``
  naming file, line and column, e.g.
  ``walk_03.csv line 57, column gyro_y: 'abc' is not a number``.

``load_recordings`` returns ``(Dataset, errors)``: every good file loads and
each bad one adds one error; ``strict=True`` raises the first error instead.
``write_recording_csv`` writes this format (with units and timestamps).

Example::

    timestamp,acc_x[g],acc_y[g],acc_z[g],gyro_x[dps],gyro_y[dps],gyro_z[dps],label,subject
    0.00,0.02,-0.98,0.11,1.5,-0.3,0.2,standing,7
    0.02,0.03,-0.97,0.10,1.1,-0.4,0.1,standing,7
"""
from __future__ import annotations

import csv
import importlib.util
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from imuedge.data.recording import UNLABELLED, Dataset, Recording
from imuedge.data.signal import resample_recording
from imuedge.window import ACC, ACC_UNITS, CHANNELS, GYRO_UNITS, MAX_ACC, MAX_GYRO, UNITS, check_channels

META_COLUMNS = ("timestamp", "label", "subject")
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
RATE_TOLERANCE = 0.02  # relative agreement of a declared and a measured rate
GAP_PERIODS = 3.0  # a timestamp step longer than this many periods is a gap
MAX_LABEL_ID = 2**31  # label ids are int64 downstream; anything this large is a corrupt cell
_HEADER = re.compile(r"^\s*([A-Za-z_]+)\s*(?:\[\s*([^\]]*?)\s*\])?\s*$")
_INT = re.compile(r"^[+-]?\d+$")
_LABEL_ID = re.compile(r"^[+-]?\d+(\.0*)?$")  # 3, or 3.0 as pandas writes an int column with gaps
_SUBJECT_NUMBER = re.compile(r"^\+?0*\d{1,9}$")  # a subject id that is its own number (fits int32)
MAX_SUBJECT_ID_CHARS = 100


class RecordingFormatError(ValueError):
    """A malformed recording file; ``.file``, ``.line`` (1-based) and ``.column`` say where."""

    def __init__(self, file: str | Path, line: int | None, column: str | None, problem: str):
        column = None if column is None else shown(column, 60, quote=False)
        self.file, self.line, self.column, self.problem = str(file), line, column, problem
        where = Path(file).name
        if line is not None:
            where += f" line {line}"
        if column is not None:
            where += f", column {column}" if line is not None else f" column {column}"
        super().__init__(f"{where}: {problem}")

    def __reduce__(self):
        return type(self), (self.file, self.line, self.column, self.problem)


def shown(cell: str, limit: int = 40, quote: bool = True) -> str:
    """A cell as an error message shows it: quoted (always when it holds a newline or another unprintable
    character, so the message stays one line), and cut (saying how long it was) past ``limit`` characters."""
    cell = str(cell)
    quote = quote or not cell.isprintable()  # a newline or a control character is shown escaped, never raw
    if len(cell) <= limit:
        return repr(cell) if quote else cell
    cut = cell[:limit] + "..."
    return f"{cut!r} ({len(cell)} characters)" if quote else f"{cut} ({len(cell)} characters)"


class RecordingWarning(UserWarning):
    """Something was fixed up while loading (resampled, columns dropped, units suspicious)."""


@dataclass
class RecordingsConfig:
    rate: float | None = None  # Hz; needed when files have no timestamp column
    acc_unit: str | None = None  # None: the header's unit, else m/s2
    gyro_unit: str | None = None  # None: the header's unit, else rad/s
    channels: tuple[str, ...] | None = None  # None: the sensor columns most files share
    label_names: dict[int, str] = field(default_factory=dict)  # known id -> name
    strict: bool = False  # raise on the first malformed file instead of collecting errors
    max_acc: float = MAX_ACC  # m/s^2: a larger |acceleration| is refused as implausible
    max_gyro: float = MAX_GYRO  # rad/s: a larger |angular rate| is refused as implausible


@dataclass
class _Table:
    """A file's columns as read: name -> values, and the file line of every row."""

    path: Path
    columns: dict[str, np.ndarray]
    units: dict[str, str]
    lines: np.ndarray
    header_line: int = 1

    def error(self, row: int | None, column: str | None, problem: str) -> RecordingFormatError:
        return RecordingFormatError(self.path, None if row is None else int(self.lines[row]), column, problem)

    def header_error(self, column: str | None, problem: str) -> RecordingFormatError:
        return RecordingFormatError(self.path, self.header_line, column, problem)


# ---------------------------------------------------------------- reading
def _parse_header(path: Path, names: list[str], line: int = 1) -> list[tuple[str, str | None]]:
    out, seen = [], set()
    for raw in names:
        m = _HEADER.match(raw)
        name = m.group(1).lower() if m else raw.strip()
        if not m or name not in (*CHANNELS, *META_COLUMNS):
            raise RecordingFormatError(path, line, raw.strip() or "(empty)", f"unknown column; expected some of "
                                       f"{', '.join(CHANNELS)} and optionally {', '.join(META_COLUMNS)}")
        if name in seen:
            raise RecordingFormatError(path, line, name, "column appears twice")
        seen.add(name)
        out.append((name, m.group(2).lower() if m.group(2) else None))
    return out


def _read_csv(path: Path) -> _Table:
    try:
        return _read_csv_rows(path)
    except (UnicodeDecodeError, csv.Error, OSError) as e:
        raise RecordingFormatError(path, None, None, f"not a readable UTF-8 CSV file ({e})") from None


def _read_csv_rows(path: Path) -> _Table:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header, header_line = None, reader.line_num + 1
        rows, lines = [], []
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()) or row[0].lstrip().startswith("#"):
                continue  # blank line or comment
            if header is None:
                header, header_line = row, reader.line_num
                cols = _parse_header(path, header, header_line)
                continue
            if len(row) != len(cols):
                column = cols[len(row)][0] if len(row) < len(cols) else f"#{len(cols) + 1} (beyond the header)"
                raise RecordingFormatError(path, reader.line_num, column,
                                           f"row has {len(row)} fields, the header has {len(cols)}")
            rows.append(row)
            lines.append(reader.line_num)
    if header is None:
        raise RecordingFormatError(path, header_line, None, "empty file; expected a header row")
    if not rows:
        raise RecordingFormatError(path, header_line + 1, None, "no data rows after the header")
    table = np.array(rows, dtype=str).T
    return _Table(path, {name: table[i] for i, (name, _) in enumerate(cols)},
                  {name: unit for name, unit in cols if unit is not None}, np.asarray(lines), header_line)


def _read_parquet(path: Path) -> _Table:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    cols = _parse_header(path, table.column_names)
    n = table.num_rows
    if n == 0:
        raise RecordingFormatError(path, 2, None, "no rows")
    columns = {}
    for (name, _), raw in zip(cols, table.column_names):
        values = table.column(raw).to_pylist()
        columns[name] = np.array(["" if v is None else str(v) for v in values], dtype=str)
    # Parquet has no lines; "line" is the row number counting the header as line 1.
    return _Table(path, columns, {name: unit for name, unit in cols if unit is not None}, np.arange(2, n + 2))


def _floats(t: _Table, name: str) -> np.ndarray:
    values = t.columns[name]
    try:
        out = values.astype(np.float64)
    except ValueError:  # find the first cell that does not parse
        out = np.empty(len(values))
        for i, v in enumerate(values):
            try:
                out[i] = float(v)
            except ValueError:
                raise t.error(i, name, f"{shown(v)} is not a number" if v.strip() else "empty cell; a number is needed")
    bad = np.flatnonzero(~np.isfinite(out))
    if len(bad):
        raise t.error(bad[0], name, f"{shown(values[bad[0]])} is not a finite number")
    return out


def _sensor(t: _Table, name: str, factor: float, bound: float) -> np.ndarray:
    """A sensor column in the window contract's unit, every value within the plausible ``bound``."""
    raw = _floats(t, name)
    with np.errstate(over="ignore", invalid="ignore"):
        values = raw * factor
    bad = np.flatnonzero(~(np.abs(values) <= bound))
    if len(bad):
        i = bad[0]
        unit = UNITS[name]
        given = t.units.get(name)
        value = f"{shown(t.columns[name][i])}" + (f" {given}" if given else "")
        raise t.error(i, name, f"{value} is {values[i]:.4g} {unit}, outside the plausible range +-{bound:.4g} {unit} "
                               f"(a wrong unit or a corrupt value? for a sensor that reads more, raise "
                               f"{'--max-acc' if name in ACC else '--max-gyro'})")
    return values


def _check_unit(unit: str | None, kind: str) -> None:
    units = ACC_UNITS if kind == "acc_unit" else GYRO_UNITS
    if unit is not None and unit not in units:
        raise ValueError(f"unknown {kind} {unit!r}; use one of {', '.join(units)}")


def _unit_factor(t: _Table, name: str, declared: str | None) -> float:
    units = ACC_UNITS if name in ACC else GYRO_UNITS
    kind = "acc_unit" if name in ACC else "gyro_unit"
    _check_unit(declared, kind)
    in_header = t.units.get(name)
    if in_header is not None and in_header not in units:
        raise t.header_error(name, f"unknown unit {in_header!r}; use one of {', '.join(units)}")
    if in_header and declared and units[in_header] != units[declared]:
        raise t.header_error(name, f"header says {in_header!r} but {kind}={declared!r} was given")
    return units[in_header or declared or next(iter(units))]


def _labels(t: _Table) -> np.ndarray:
    """Label cells as strings: '' unlabelled, '3' an id, anything else a name."""
    if "label" not in t.columns:
        return np.full(len(t.lines), "", dtype=object)
    out = np.char.strip(t.columns["label"]).astype(object)
    for i, v in enumerate(out):
        if _LABEL_ID.match(v):
            value = int(v.split(".")[0])
            if value < UNLABELLED:
                raise t.error(i, "label", f"label id {shown(v)} is negative; use -1 or an empty cell for unlabelled")
            if value >= MAX_LABEL_ID:
                raise t.error(i, "label", f"label id {shown(v)} is too large (ids go up to {MAX_LABEL_ID - 1}); "
                                          f"write the class as a name")
            out[i] = "" if value == UNLABELLED else str(value)
    return out


def _subject(t: _Table) -> str:
    """The file's subject id as text ('' without a subject column); a number is written canonically ('07' -> '7')."""
    if "subject" not in t.columns:
        return ""
    values = np.char.strip(t.columns["subject"])
    first = subject_key(values[0])
    for i, v in enumerate(values):
        if not v:
            raise t.error(i, "subject", "empty cell; every row needs the subject id (or leave out the column)")
        if len(v) > MAX_SUBJECT_ID_CHARS:
            raise t.error(i, "subject", f"subject id {shown(v)} is longer than {MAX_SUBJECT_ID_CHARS} characters")
        if not v.isprintable():
            raise t.error(i, "subject", f"subject id {shown(v)} holds an unprintable character")
        if v != values[0] and subject_key(v) != first:
            raise t.error(i, "subject", f"subject {shown(v)} differs from {shown(values[0])} on the first row; "
                                        f"a file holds one subject")
    return first


def subject_key(text: str) -> str:
    """A subject id as the loader compares them: integers canonical ('07' -> '7'), other text as written."""
    text = str(text).strip()
    return str(int(text)) if _SUBJECT_NUMBER.match(text) else text


def number_subjects(names) -> dict[str, int]:
    """Subject id text -> subject number: an integer id is its own number; text ids follow the largest
    integer id, in alphabetical order (so integer-only data keeps its numbers, and its split)."""
    keys = {subject_key(n) for n in names}
    numbers = {k: int(k) for k in keys if _SUBJECT_NUMBER.match(k)}
    first = max(numbers.values(), default=-1) + 1
    numbers.update({k: first + i for i, k in enumerate(sorted(keys - set(numbers)))})
    return numbers


def _timing(t: _Table, data: np.ndarray, labels: np.ndarray, rate: float | None):
    """Uniformly sampled (data, labels, rate) from the timestamp column or the rate option."""
    if "timestamp" not in t.columns:
        if rate is None:
            raise t.header_error("timestamp", "no timestamp column and no rate given; "
                                              "add timestamps (seconds) or pass the sample rate")
        return data, labels, float(rate)
    unit = t.units.get("timestamp", "s")
    if unit not in TIME_UNITS:
        raise t.header_error("timestamp", f"unknown unit {unit!r}; use one of {', '.join(TIME_UNITS)}")
    ts = _floats(t, "timestamp") * TIME_UNITS[unit]
    steps = np.diff(ts)
    bad = np.flatnonzero(steps <= 0)
    if len(bad):
        i = bad[0] + 1
        raise t.error(i, "timestamp", f"timestamp {shown(t.columns['timestamp'][i], quote=False)} is not after the "
                                      f"previous {shown(t.columns['timestamp'][i - 1], quote=False)}; timestamps must "
                                      f"strictly increase")
    if len(ts) < 2:
        if rate is None:
            raise t.error(0, "timestamp", "a single sample gives no rate; pass the sample rate")
        return data, labels, float(rate)
    measured = 1.0 / float(np.median(steps))
    hint = f"; timestamps are read as {unit}: for other units write e.g. timestamp[ms] in the header"
    if rate is not None and abs(measured - rate) > RATE_TOLERANCE * rate:
        raise RecordingFormatError(t.path, None, "timestamp", f"timestamps show {measured:.4g} Hz but rate={rate:g} "
                                   f"was given (they must agree within {RATE_TOLERANCE:.0%}){hint}")
    if rate is None and not 1.0 <= measured <= 100_000:
        raise RecordingFormatError(t.path, None, "timestamp", f"timestamps show {measured:.4g} Hz, not a sensor "
                                   f"rate{hint}")
    if rate is None:  # 49.97 Hz measured -> 50 Hz nominal
        whole = round(measured)
        rate = float(whole) if whole >= 1 and abs(whole - measured) <= RATE_TOLERANCE * measured else measured
    grid_err = np.abs(ts - ts[0] - np.arange(len(ts)) / rate) * rate
    if grid_err.max() <= 0.5:
        return data, labels, rate
    grid = ts[0] + np.arange(int(np.floor((ts[-1] - ts[0]) * rate + 1e-9)) + 1) / rate
    new = np.stack([np.interp(grid, ts, ch) for ch in data])
    right = np.clip(np.searchsorted(ts, grid), 1, len(ts) - 1)
    nearest = np.where(grid - ts[right - 1] <= ts[right] - grid, right - 1, right)
    new_labels = labels[nearest].copy()
    in_gap = (ts[right] - ts[right - 1]) > GAP_PERIODS / rate
    new_labels[in_gap & (grid > ts[right - 1]) & (grid < ts[right])] = ""
    gaps = int(np.sum(steps > GAP_PERIODS / rate))
    warnings.warn(f"{t.path.name}: irregular timestamps (up to {grid_err.max():.1f} samples off a {rate:g} Hz "
                  f"grid); resampled onto the grid by linear interpolation"
                  + (f", {gaps} gap(s) longer than {GAP_PERIODS:g} periods left unlabelled" if gaps else ""),
                  RecordingWarning, stacklevel=3)
    return new, new_labels, rate


class ParsedFile(NamedTuple):
    recording: Recording  # labels still UNLABELLED: ids are given across all files
    label_text: np.ndarray  # object (samples,): '' unlabelled, an id as text, or a name
    header_line: int


def read_recording_file(path: str | Path, config: RecordingsConfig | None = None) -> ParsedFile:
    """One file, checked and converted; channels are the file's unless ``config.channels`` is set."""
    cfg = config or RecordingsConfig()
    path = Path(path)
    t = _read_parquet(path) if path.suffix.lower() == ".parquet" else _read_csv(path)
    present = tuple(c for c in CHANNELS if c in t.columns)
    wanted = tuple(cfg.channels) if cfg.channels else present
    missing = [c for c in wanted if c not in t.columns]
    if not present or missing:
        raise t.header_error(missing[0] if missing else None, f"missing column; needed: {', '.join(wanted)}"
                             if missing else f"no sensor columns; expected some of {', '.join(CHANNELS)}")
    data = np.stack([_sensor(t, c, _unit_factor(t, c, cfg.acc_unit if c in ACC else cfg.gyro_unit),
                             cfg.max_acc if c in ACC else cfg.max_gyro) for c in wanted])
    label_text = _labels(t)
    subject = _subject(t)
    data, label_text, rate = _timing(t, data, label_text, cfg.rate)
    _check_gravity(path, data, wanted)
    number = number_subjects([subject or "0"])[subject or "0"]
    rec = Recording(data, np.full(data.shape[1], UNLABELLED), wanted, rate, number, path.stem, str(path),
                    subject_name=subject if subject and str(number) != subject else "")
    return ParsedFile(rec, label_text, t.header_line)


def _check_gravity(path: Path, data: np.ndarray, channels: tuple[str, ...]) -> None:
    if not all(c in channels for c in ACC):
        return
    g = float(np.median(np.linalg.norm(data[[channels.index(c) for c in ACC]], axis=0)))
    if 0.5 < g < 2.0 or g > 50:
        guess = "g" if g < 2 else "m/s2"
        warnings.warn(f"{path.name}: acceleration magnitude is about {g:.3g} m/s^2 after unit conversion; "
                      f"if the file is in {guess}, declare acc_unit='{guess}' (or write acc_x[{guess}] "
                      f"in the header)", RecordingWarning, stacklevel=3)


# ---------------------------------------------------------------- labels
def _number_labels(texts: list[np.ndarray], known: dict[int, str]) -> tuple[list[np.ndarray], dict[int, str]]:
    """Label text to ids: known names keep their ids, numbers are ids, new names follow alphabetically."""
    by_name = {name: i for i, name in known.items()}
    cells = set().union(*(set(t) for t in texts)) - {""}
    ids = {int(c) for c in cells if _INT.match(c)}
    new_names = sorted(c for c in cells if not _INT.match(c) and c not in by_name)
    next_id = max([*known, *ids, -1]) + 1
    by_name.update({name: next_id + k for k, name in enumerate(new_names)})
    names = {**{i: str(i) for i in ids}, **known, **{i: n for n, i in by_name.items()}}
    lookup = {**by_name, **{c: int(c) for c in cells if _INT.match(c)}, "": UNLABELLED}
    return [np.array([lookup[c] for c in t], dtype=np.int64) for t in texts], dict(sorted(names.items()))


# ---------------------------------------------------------------- folder
def recording_files(folder: str | Path) -> list[Path]:
    """The recording files of a folder, in name order (.parquet only when pyarrow is installed)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of recordings")
    suffixes = {".csv", ".parquet"} if importlib.util.find_spec("pyarrow") else {".csv"}
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


def load_recordings(folder: str | Path, config: RecordingsConfig | None = None,
                    **overrides) -> tuple[Dataset, list[RecordingFormatError]]:
    """Every recording file of ``folder`` as a Dataset, plus one error per malformed file.

    Options are ``RecordingsConfig`` fields, as a config or as keyword overrides.
    """
    cfg = replace(config or RecordingsConfig(), **overrides)
    _check_unit(cfg.acc_unit, "acc_unit")
    _check_unit(cfg.gyro_unit, "gyro_unit")
    if cfg.channels:
        cfg = replace(cfg, channels=check_channels(cfg.channels))
    if cfg.rate is not None and not cfg.rate > 0:
        raise ValueError(f"rate must be positive, got {cfg.rate}")
    files = recording_files(folder)
    if not files:
        raise FileNotFoundError(f"no .csv recordings in {folder}")
    parsed, errors = [], []

    def fail(err: RecordingFormatError):
        if cfg.strict:
            raise err
        errors.append(err)

    for path in files:
        try:
            parsed.append(read_recording_file(path, cfg))
        except RecordingFormatError as e:
            fail(e)
    # One channel set for the dataset: the one given, else the most common.
    if parsed and not cfg.channels:
        counts = Counter(p.recording.channels for p in parsed)
        channels = max(counts, key=lambda c: (counts[c], len(c)))
    else:
        channels = tuple(cfg.channels or ())
    kept, ids = [], set()
    for rec, text, header_line in parsed:
        missing = [c for c in channels if c not in rec.channels]
        if missing:
            fail(RecordingFormatError(rec.source, header_line, missing[0], f"missing column; the other files have "
                                      f"{', '.join(channels)}"))
            continue
        if rec.recording_id in ids:
            fail(RecordingFormatError(rec.source, None, None, f"recording id {rec.recording_id!r} is used by "
                                      f"another file"))
            continue
        ids.add(rec.recording_id)
        if rec.channels != channels:
            warnings.warn(f"{Path(rec.source).name}: columns {', '.join(sorted(set(rec.channels) - set(channels)))} "
                          f"dropped (not in the other files)", RecordingWarning, stacklevel=2)
            rec = rec.select(channels)
        kept.append((rec, text))
    label_ids, names = _number_labels([t for _, t in kept], dict(cfg.label_names))
    subjects = number_subjects(rec.subject_label for rec, _ in kept)
    recordings = [replace(rec, labels=lab, subject=subjects[rec.subject_label])
                  for (rec, _), lab in zip(kept, label_ids)]
    rate = cfg.rate or (recordings[0].sample_rate_hz if recordings else 0.0)
    same_rate = []
    for rec in recordings:
        if abs(rec.sample_rate_hz - rate) <= RATE_TOLERANCE * rate:
            same_rate.append(replace(rec, sample_rate_hz=rate))
            continue
        try:
            same_rate.append(resample_recording(rec, rate))
        except ValueError as e:
            fail(RecordingFormatError(rec.source, None, "timestamp", f"cannot resample to {rate:g} Hz: {e}"))
            continue
        warnings.warn(f"{Path(rec.source).name}: {rec.sample_rate_hz:g} Hz resampled to {rate:g} Hz "
                      f"(the first file's rate)", RecordingWarning, stacklevel=2)
    return Dataset(same_rate, names, Path(folder).name), errors


# ---------------------------------------------------------------- writing
def write_recording_csv(path: str | Path, recording: Recording, label_names: dict[int, str] | None = None) -> Path:
    """Write one recording in the format above: timestamps, SI units in the header, label names."""
    path = Path(path)
    names = label_names or {}
    units = {c: "m/s2" if c in ACC else "rad/s" for c in recording.channels}
    header = ["timestamp", *(f"{c}[{units[c]}]" for c in recording.channels), "label", "subject"]
    ts = np.arange(recording.num_samples) / recording.sample_rate_hz
    labels = ["" if v == UNLABELLED else names.get(int(v), str(int(v))) for v in recording.labels]
    values = recording.data.T.tolist()
    subject = recording.subject_label
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows([f"{t:.6f}", *(f"{v:.9g}" for v in row), lab, subject]
                     for t, row, lab in zip(ts, values, labels))
    return path
