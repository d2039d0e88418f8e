import pytest
import torch

from imuedge.train.augment import (Hue, Jitter, MocoV2Default, PermuteX, SensorAware, TranslateX,
                                   build_augmentation)


def images(b=6, h=8, w=12, seed=0):
    return torch.randn(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


def gen(seed=1):
    return torch.Generator().manual_seed(seed)


def sorted_rows(t):  # multiset of 1-D slices along the last dim
    return torch.sort(t.reshape(-1, t.shape[-1]), dim=0).values


def columns(img):  # (3, H, W) -> (W, 3*H), each column a row
    return img.permute(2, 0, 1).reshape(img.shape[-1], -1)


def as_set(rows):
    return sorted(map(tuple, rows.tolist()))


def test_hue_only_permutes_channels():
    x = images()
    y = Hue()(x, gen())
    for a, b in zip(x, y):
        assert as_set(a.reshape(3, -1)) == as_set(b.reshape(3, -1))
        assert not torch.equal(a, b)  # never the identity


def test_translate_x_is_a_circular_shift_in_width_only():
    x = images()
    y = TranslateX()(x, gen())
    for a, b in zip(x, y):
        shifts = [s for s in range(a.shape[-1]) if torch.equal(torch.roll(a, s, dims=-1), b)]
        assert len(shifts) == 1 and shifts[0] != 0
        assert as_set(columns(a)) == as_set(columns(b))
        # each row keeps its values (as a set) and stays in place
        assert torch.equal(a.sort(dim=-1).values, b.sort(dim=-1).values)


def test_permute_x_preserves_columns():
    x = images(w=20)
    y = PermuteX()(x, gen())
    for a, b in zip(x, y):
        assert as_set(columns(a)) == as_set(columns(b))
    assert not torch.equal(x, y)


def test_jitter_is_bounded():
    x = images()
    aug = Jitter(sigma=0.1, brightness=0.05)
    y = aug(x, gen())
    assert y.shape == x.shape and not torch.equal(x, y)
    assert (y - x).abs().max() <= aug.bound + 1e-6


class Add:
    def __init__(self, v):
        self.v = v

    def __call__(self, images, generator):
        return images + self.v


def test_sensor_aware_applies_exactly_one():
    x = images(b=64)
    y, choice = SensorAware([Add(1.0), Add(10.0), Add(100.0)]).apply(x, gen())
    delta = (y - x).mean(dim=(1, 2, 3))
    assert torch.allclose(delta, torch.tensor([1.0, 10.0, 100.0])[choice])
    assert len(set(choice.tolist())) == 3


@pytest.mark.parametrize("name", ["sensor_aware", "mocov2"])
def test_deterministic_given_generator(name):
    aug, x = build_augmentation(name), images()
    y1, y2 = aug(x, gen(5)), aug(x, gen(5))
    assert y1.shape == x.shape and torch.isfinite(y1).all()
    assert torch.equal(y1, y2)
    assert not torch.equal(y1, aug(x, gen(6)))


def test_mocov2_changes_images():
    x = images(b=16, h=24, w=32)
    y = MocoV2Default()(x, gen())
    assert y.shape == x.shape and not torch.allclose(x, y)
