import pytest
import torch

from imuedge.train.images import ImageFolder, ProceduralImages


def test_procedural_images_are_deterministic_and_standardised():
    ds = ProceduralImages(size=(24, 32), seed=3)
    batch = ds.batch(range(6))
    assert batch.shape == (6, 3, 24, 32) and batch.dtype == torch.float32
    assert torch.equal(batch, ds.batch(range(6)))
    assert not torch.equal(batch, ProceduralImages(size=(24, 32), seed=4).batch(range(6)))
    assert torch.allclose(batch.mean(dim=(2, 3)), torch.zeros(6, 3), atol=1e-4)
    std = batch.std(dim=(2, 3), unbiased=False)
    assert ((std - 1).abs() < 1e-3).all()


def test_image_folder_skips_unreadable(tmp_path):
    from PIL import Image
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (40, 20), (200, 10, 10)).save(tmp_path / "a.png")
    img = Image.effect_noise((64, 48), 50).convert("RGB")
    img.save(tmp_path / "sub" / "b.jpg")
    (tmp_path / "c.png").write_bytes(b"not an image")
    ds = ImageFolder(tmp_path, size=(12, 16))
    assert len(ds) == 3
    out = [ds[i] for i in range(3)]
    assert all(o.shape == (3, 12, 16) for o in out)
    assert len(ds.skipped) == 1 and next(iter(ds.skipped)).name == "c.png"


def test_image_folder_without_images(tmp_path):
    with pytest.raises(FileNotFoundError, match="no image files"):
        ImageFolder(tmp_path)
