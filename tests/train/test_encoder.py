import torch

from imuedge.spectrogram import SpectrogramConfig
from imuedge.train.encoder import Classifier, IMUEncoder, build_model, model_spec

TINY = dict(backbone_kwargs={"widths": [8, 16], "depths": [1, 1]},
            spectrogram={"samples": 64, "n_fft": 16, "hop": 4, "image_size": [24, 32]})


def test_six_axes_make_two_images_and_concatenated_embedding():
    enc = IMUEncoder(**TINY).eval()
    x = torch.randn(3, 6, 64)
    assert enc.images(x).shape == (3, 2, 3, 24, 32)
    z = enc(x)
    assert enc.out_dim == 2 * enc.image_dim == 32 and z.shape == (3, 32)
    # acc embedding first, then gyro, from the same backbone
    images = enc.images(x)
    assert torch.allclose(z[:, :16], enc.forward_images(images[:, 0]), atol=1e-5)
    assert torch.allclose(z[:, 16:], enc.forward_images(images[:, 1]), atol=1e-5)


def test_accelerometer_only():
    enc = IMUEncoder(("acc_x", "acc_y", "acc_z"), **TINY).eval()
    assert enc(torch.randn(2, 3, 64)).shape == (2, 16)


def test_config_round_trip_rebuilds_same_function():
    clf = Classifier(IMUEncoder(**TINY), num_classes=5).eval()
    spec = model_spec(clf)
    again = build_model(spec).eval()
    assert model_spec(again) == spec
    again.load_state_dict(clf.state_dict())
    x = torch.randn(2, 6, 64)
    assert torch.equal(clf(x), again(x))
    assert isinstance(spec["config"]["encoder"]["spectrogram"], dict)
    assert IMUEncoder.from_config(spec["config"]["encoder"]).spectrogram.config == SpectrogramConfig(
        **TINY["spectrogram"])
