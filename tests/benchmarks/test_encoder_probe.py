"""LIMU-BERT's protocol in benchmarks/encoder_probe.py: a random 80/10/10 window split whose probe sees the
labels of only a fraction of the training windows."""
import numpy as np

from benchmarks.encoder_probe import window_split


def test_the_window_split_is_80_10_10_disjoint_and_labels_one_percent_of_train():
    train, labelled, val, test = window_split(10_000, 0.01, seed=3)
    assert (len(train), len(val), len(test), len(labelled)) == (8000, 1000, 1000, 80)
    everything = np.concatenate([train, val, test])
    assert len(np.unique(everything)) == 10_000  # every window once
    assert set(labelled) <= set(train) and len(np.unique(labelled)) == len(labelled)


def test_each_seed_draws_its_own_split_and_the_same_seed_the_same():
    a, b, c = window_split(500, 0.01, 0), window_split(500, 0.01, 0), window_split(500, 0.01, 1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[1], c[1])
    assert len(window_split(50, 0.001, 0)[1]) == 1  # at least one labelled window
