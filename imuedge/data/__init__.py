"""The data layer: datasets in the window contract, windows, splits.

    load_hapt()            UCI HAPT, 30 subjects, 50 Hz, m/s^2 and rad/s
    load_recordings(dir)   your own CSV recordings -> (Dataset, errors)
    make_windows(...)      windows that never cross a label change or a recording
    unlabelled_windows()   windows over whole recordings, no labels (self-supervised pretraining)
    subject_split(...)     subject-disjoint train / val / test
    distinct_subject_split(...)  the same, with test subjects that differ from every smaller seed's
    load_hapt_windows()    all of the above for HAPT in one call
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from imuedge.data.hapt import BASIC_ACTIVITIES, LABEL_NAMES as HAPT_LABEL_NAMES, SafeUnpickler, \
    UnsafePickleError, find_archive, load_hapt
from imuedge.data.recording import UNLABELLED, Dataset, Recording, WindowSet
from imuedge.data.recordings import RecordingFormatError, RecordingsConfig, RecordingWarning, \
    load_recordings, read_recording_file, write_recording_csv
from imuedge.data.signal import gravity_split, lowpass, resample, resample_dataset, resample_labels, \
    resample_recording
from imuedge.data.splits import distinct_subject_split, few_shot_indices, split_windows, subject_split
from imuedge.data.windows import ZScore, label_runs, make_windows, remap_labels, unlabelled_windows
from imuedge.window import CHANNELS

__all__ = [
    "BASIC_ACTIVITIES", "CHANNELS", "HAPT_LABEL_NAMES", "UNLABELLED", "Dataset", "HaptWindowsConfig",
    "Recording", "RecordingFormatError", "RecordingWarning", "RecordingsConfig", "SafeUnpickler",
    "UnsafePickleError", "WindowSet", "ZScore", "distinct_subject_split", "few_shot_indices", "find_archive",
    "gravity_split",
    "label_runs", "load_hapt", "load_hapt_windows", "load_recordings", "lowpass", "make_windows",
    "read_recording_file", "remap_labels", "resample", "resample_dataset", "resample_labels",
    "resample_recording", "split_windows", "subject_split", "unlabelled_windows", "windows_by_split",
    "write_recording_csv",
]


@dataclass
class HaptWindowsConfig:
    window: int = 128  # samples (2.56 s at 50 Hz)
    hop: int = 64  # samples between window starts
    classes: tuple[int, ...] = BASIC_ACTIVITIES  # HAPT label ids kept, renumbered 0..K-1 in this order
    channels: tuple[str, ...] = CHANNELS
    seed: int = 0  # subject split seed
    ratios: tuple[float, float, float] = (0.6, 0.2, 0.2)  # train / val / test share of subjects
    path: str | None = None  # the HAPT .pkl.gz; None: $IMUEDGE_HAPT, then the installed package


def windows_by_split(dataset: Dataset, window: int, hop: int, classes, seed: int = 0,
                     ratios=(0.6, 0.2, 0.2)) -> dict[str, WindowSet]:
    """Window a dataset, keep ``classes`` (renumbered 0..K-1), split it by subject."""
    ws = remap_labels(make_windows(dataset, window, hop, classes), classes)
    return split_windows(ws, subject_split(dataset.subjects, seed, ratios))


def load_hapt_windows(config: HaptWindowsConfig | None = None, **overrides) -> dict[str, WindowSet]:
    """HAPT as {"train", "val", "test"} WindowSets: subject-disjoint, labels 0..K-1, ``label_names`` set.

    Options are ``HaptWindowsConfig`` fields, as a config or keyword overrides;
    the default is the six basic activities, 128-sample windows, hop 64.
    """
    cfg = replace(config or HaptWindowsConfig(), **overrides)
    ds = load_hapt(cfg.path)
    if tuple(cfg.channels) != ds.channels:
        ds = Dataset([r.select(tuple(cfg.channels)) for r in ds.recordings], ds.label_names, ds.name)
    return windows_by_split(ds, cfg.window, cfg.hop, cfg.classes, cfg.seed, cfg.ratios)
