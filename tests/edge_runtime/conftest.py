"""Shared fixtures: a real .pte bundle of a small classifier, HAPT test recordings as CSV."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from imuedge.window import WindowSpec

CLASSES = ["walking", "walking_upstairs", "walking_downstairs", "sitting", "standing", "laying"]


class TinyClassifier(torch.nn.Module):
    """Small enough to export in seconds; real enough that every window gets different scores."""

    def __init__(self, channels: int = 6, classes: int = len(CLASSES)):
        super().__init__()
        self.conv = torch.nn.Conv1d(channels, 16, 5, stride=2)
        self.fc = torch.nn.Linear(32, classes)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        return self.fc(torch.cat([h.mean(-1), h.amax(-1)], dim=1))


def small_target(window: int = 128, hop: int = 64, rate: float = 50.0, channels=None):
    from imuedge.export import ExportTarget

    torch.manual_seed(0)
    spec = WindowSpec(channels=tuple(channels) if channels else WindowSpec().channels, sample_rate_hz=rate,
                      window=window, hop=hop)
    model = TinyClassifier(len(spec.channels)).eval()
    return ExportTarget(model, "classify", spec, {"class_names": CLASSES}, provenance={"test": "edge_runtime"})


@pytest.fixture(scope="session")
def hapt_test_recording():
    return load_hapt_test_recording()


def load_hapt_test_recording():
    """A few hundred seconds of one HAPT test-split subject (50 Hz, six channels, m/s^2 and rad/s)."""
    from imuedge.data import load_hapt, subject_split

    ds = load_hapt()
    split = subject_split(ds.subjects, 0, (0.6, 0.2, 0.2))
    test_subjects = split["test"] if isinstance(split, dict) else split[2]
    rec = next(r for r in ds.recordings if r.subject in set(test_subjects))
    return rec


def export_small(tmp_path_factory, recording, fmt: str):
    """The small classifier exported to one fp32 bundle of ``fmt``, checked on HAPT test windows."""
    from imuedge.export import export_bundles

    torch.set_num_threads(1)
    x = recording.data
    ev = np.stack([x[:, s:s + 128] for s in range(0, 64 * 32, 64)]).astype(np.float32)
    out = tmp_path_factory.mktemp(f"{fmt}_bundles")
    summary = export_bundles(small_target(), out, (fmt,), ("fp32",), eval_x=ev, log=lambda m: None)
    assert summary["ok"], summary
    return out / f"{fmt}-fp32"


@pytest.fixture(scope="session")
def pte_bundle(tmp_path_factory, hapt_test_recording):
    return export_small(tmp_path_factory, hapt_test_recording, "pte")


@pytest.fixture(scope="session")
def onnx_bundle(tmp_path_factory, hapt_test_recording):
    """The classifier of ``pte_bundle`` as an ONNX fp32 bundle: it runs without torch (the BlueZ-in-QEMU guest)."""
    return export_small(tmp_path_factory, hapt_test_recording, "onnx")


def write_csv(path, data, channels=("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"), rate=50.0):
    from imuedge.data import Recording, write_recording_csv

    rec = Recording(np.asarray(data, np.float32), np.full(data.shape[1], -1), tuple(channels), rate, 0, "sim")
    return write_recording_csv(path, rec)


@pytest.fixture
def recording_csv(tmp_path, hapt_test_recording):
    """Factory: the first n samples of the HAPT test recording as a CSV file."""
    def make(n: int, name: str = "rec.csv", rate: float = 50.0):
        return write_csv(tmp_path / name, hapt_test_recording.data[:, :n], rate=rate)
    return make
