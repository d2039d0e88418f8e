import pytest
import torch

from imuedge.train.backbones import BACKBONES, CNN1D, build_backbone


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name,dim", [("edge", 128), ("resnet18", 512)])
def test_image_backbone_shapes(name, dim):
    m = build_backbone(name).eval()
    assert m.out_dim == dim
    assert m(torch.randn(2, 3, 48, 64)).shape == (2, dim)


def test_param_counts_are_the_readmes():
    """README: the edge ResNet (widths 16-32-64-128) has 0.70 M parameters, ResNet-18 11.2 M."""
    edge = build_backbone("edge")
    assert edge.to_config()["widths"] == [16, 32, 64, 128]
    assert n_params(edge) == 700_176
    assert n_params(build_backbone("resnet18")) == 11_176_512


def test_config_round_trip():
    m = build_backbone("edge", widths=(8, 16), depths=(1, 1))
    again = build_backbone("edge", **m.to_config())
    assert again.to_config() == m.to_config() and again.out_dim == 16
    assert set(BACKBONES) == {"resnet18", "edge"}


def test_unknown_backbone():
    with pytest.raises(ValueError, match="known"):
        build_backbone("vit")


def test_cnn1d_normalises_in_graph():
    x = torch.randn(8, 6, 128) * 3 + 9.8
    m = build_backbone("cnn1d", in_channels=6)
    assert isinstance(m, CNN1D)
    m.fit_normalization(x)
    assert torch.allclose(m.mean.flatten(), x.mean(dim=(0, 2)))
    assert m.eval()(x).shape == (8, m.out_dim)
