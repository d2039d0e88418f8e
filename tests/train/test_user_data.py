"""The user's data as `imuedge train` / `eval` take it: the held-out choice (the commands end to end are in
test_train_eval_cli.py)."""
import numpy as np

from imuedge.data import WindowSet
from imuedge.train.user_data import choose_holdout
from imuedge.window import CHANNELS


def test_seeds_hold_out_distinct_subject_sets():
    subjects = np.repeat(np.arange(1, 6), 8)  # 5 subjects, 4 windows of each of 2 classes
    y = np.tile(np.repeat([0, 1], 4), 5)
    ws = WindowSet(np.zeros((40, 6, 8), np.float32), y, subjects, subjects.astype(str).astype(object),
                   np.zeros(40, np.int64), CHANNELS, 50.0)
    held = [tuple(sorted(set(ws.subject[choose_holdout(ws, "subject", seed, 2)[0]].tolist()))) for seed in range(5)]
    assert len(set(held)) == 5, held  # five seeds, five different held-out subjects
