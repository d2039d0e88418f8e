"""Few-shot evaluation pieces: metrics, the linear probe, folding it into one classifier."""
import numpy as np
import torch

from imuedge.train import fewshot
from imuedge.train.encoder import IMUEncoder
from imuedge.train.metrics import confusion_matrix, macro_f1
from imuedge.train.models import classifier_from_probe


def test_macro_f1_matches_hand_computation():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 0])
    # class 0: tp1 fp1 fn1 -> 0.5; class 1: tp2 fp1 fn0 -> 0.8; class 2: tp1 fp0 fn1 -> 2/3
    assert macro_f1(y, p, 3) == np.float64(np.mean([0.5, 0.8, 2 / 3])).item()
    assert macro_f1(y, y, 3) == 1.0
    assert confusion_matrix(y, p, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_probe_separates_separable_features_from_few_shots():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16)) * 4
    y = np.repeat(np.arange(4), 50)
    feats = (centres[y] + rng.normal(size=(200, 16))).astype(np.float32)
    r = fewshot.evaluate_probe(feats, y, feats, y, n_per_class=2, seed=0, num_classes=4)
    assert r.macro_f1 > 0.95
    # and fails honestly on noise: chance level, not a hard-coded number
    noise = rng.normal(size=(200, 16)).astype(np.float32)
    assert fewshot.evaluate_probe(noise, y, noise[::-1].copy(), y, 2, 0, 4).macro_f1 < 0.6


def test_probe_folds_into_an_exportable_classifier():
    torch.manual_seed(0)
    enc = IMUEncoder(channels=("acc_x", "acc_y", "acc_z")).eval()
    x = np.random.default_rng(0).normal(size=(24, 3, 128)).astype(np.float32)
    y = np.arange(24) % 3
    feats = fewshot.embed(enc, x)
    r = fewshot.evaluate_probe(feats, y, feats, y, n_per_class=4, seed=0, num_classes=3)
    model = classifier_from_probe(enc, r.head, r.mean, r.std)
    assert (fewshot.predict(model, x) == r.y_pred).all()


def test_supervised_training_learns_a_simple_task():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    y = np.arange(64) % 2
    x = rng.normal(size=(64, 2, 16)).astype(np.float32)
    x[y == 1, 0] += 2.0
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 2))
    fewshot.train_supervised(model, x, y, seed=0, cfg=fewshot.SupervisedConfig(epochs=5, lr=1e-2, min_steps=200))
    assert (fewshot.predict(model, x) == y).mean() > 0.95
