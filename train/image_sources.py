"""What IMG2IMU pretraining draws its images from: batches taken in turn from procedural images, an image
folder, or unlabelled IMU windows rendered as spectrogram images (with augmented or neighbouring-window
positives and where each window lies, for MoCo's far negatives).

    stream = ImageStream(cfg, rank)              # cfg: a PretrainConfig (its sources, sizes, seed)
    images, positives, where = stream.batch(64)  # where: (n, 2) recording index and start in s, or None

``hapt_train_windows`` gives the default unlabelled windows (HAPT's training subjects' whole
recordings) and ``save_imu_windows`` writes an ``--imu-windows`` file from any WindowSet.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from imuedge.spectrogram import Spectrogram, SpectrogramConfig
from imuedge.train.images import ImageFolder, ProceduralImages
from imuedge.window import WindowSpec

if TYPE_CHECKING:
    from imuedge.train.pretrain import PretrainConfig


class ImageStream:
    """Draws batches of (3, H, W) images from the configured sources, in turn."""

    def __init__(self, cfg: PretrainConfig, rank: int, start: int = 0):
        """``start``: the step a resumed run continues from. Batches are drawn in turn from the
        sources; worker-fed sources skip the images of the first ``start`` steps, and
        ``set_state`` restores the generator the in-process sources draw from, so a resumed
        run draws exactly the batches an uninterrupted one would."""
        size = tuple(cfg.spectrogram.image_size)
        seed = cfg.seed * 7919 + rank
        names = cfg.sources.split("+")
        self.sources = []
        for i, name in enumerate(names):
            if name == "procedural":
                images = ProceduralImages(size=size, seed=cfg.seed * 1000 + rank, length=2**31 - 1)
                served = len(range(i, start, len(names)))  # batches this source gave in steps 0..start-1
                self.sources.append(PrefetchedImages(images, cfg.batch_size, cfg.workers, seed,
                                                     skip=served * cfg.batch_size)
                                    if cfg.workers > 0 else IndexedImages(images))
            elif name == "folder":
                if not cfg.image_folder:
                    raise ValueError("source 'folder' needs --image-folder PATH")
                self.sources.append(IndexedImages(ImageFolder(cfg.image_folder, size=size)))
            elif name == "imu":
                self.sources.append(IMUSpectrogramImages(
                    cfg.imu_windows, cfg.spectrogram, cfg.imu_positives, cfg.neighbour_seconds,
                    cfg.recordings_per_batch, needs_where=cfg.moco.far_negatives_s > 0))
            else:
                raise ValueError(f"unknown image source {name!r}; use procedural, imu or folder")
        self.generator = torch.Generator().manual_seed(seed)
        self.turn = start

    def window_spec(self) -> WindowSpec | None:
        """The IMU windows' contract (channels, rate, length) when an 'imu' source knows its rate, else None."""
        specs = [s.window_spec() for s in self.sources if isinstance(s, IMUSpectrogramImages)]
        return specs[0] if specs else None

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``n`` images, their positives (to be augmented into the query and key views: the same images,
        except for IMU windows with neighbour positives) and, for IMU windows, where each lies
        (``(n, 2)``: recording index, start in s; None for other sources)."""
        source = self.sources[self.turn % len(self.sources)]
        self.turn += 1
        images = source.sample(n, self.generator)
        return images if isinstance(images, tuple) else (images, images, None)


class IndexedImages:
    """Random batches from an indexable image dataset."""

    def __init__(self, dataset):
        self.dataset = dataset

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(self.dataset), (n,), generator=generator)
        return torch.stack([self.dataset[int(i)] for i in idx]).float()


class RandomIndices(torch.utils.data.Sampler):
    """An endless stream of random indices into a dataset, from a seeded generator, less its first ``skip``."""

    def __init__(self, length: int, seed: int, skip: int = 0):
        self.length, self.seed, self.skip = length, seed, skip

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed)
        skip = self.skip
        while True:
            chunk = torch.randint(self.length, (4096,), generator=generator).tolist()
            yield from chunk[skip:]
            skip = max(0, skip - len(chunk))


class PrefetchedImages:
    """Random batches drawn by DataLoader worker processes (for a GPU that outpaces one CPU core).
    ``sample`` ignores the caller's generator: the sampler has its own seed."""

    def __init__(self, dataset, batch_size: int, workers: int, seed: int, skip: int = 0):
        self.batch_size = batch_size
        self.loader = iter(torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, sampler=RandomIndices(len(dataset), seed, skip), num_workers=workers,
            persistent_workers=True, prefetch_factor=4, pin_memory=torch.cuda.is_available()))

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if n != self.batch_size:
            raise ValueError(f"prefetched image batches hold {self.batch_size} images, {n} asked for")
        return next(self.loader)


HAPT_TRAIN = "hapt-train"  # the HAPT training subjects' whole recordings (default split), labels unused
HAPT_TRAIN_HOP = 16  # samples between their windows' starts (0.32 s at 50 Hz)
POSITIVES = ("augment", "neighbour")


def hapt_train_windows(window: int = 128, hop: int = HAPT_TRAIN_HOP, split_seed: int = 0):
    """Unlabelled windows over the whole recordings of the training subjects of HAPT's subject split."""
    from imuedge.data import Dataset, load_hapt, subject_split, unlabelled_windows

    ds = load_hapt()
    train = set(subject_split(ds.subjects, split_seed)["train"])
    return unlabelled_windows(Dataset([r for r in ds.recordings if r.subject in train], name=ds.name), window, hop)


def save_imu_windows(path, ws) -> None:
    """An ``--imu-windows`` file from a WindowSet: x, channels, and where each window lies."""
    np.savez(path, x=ws.x, channels=np.array(ws.channels), recording=np.asarray(ws.recording, dtype=str),
             start=ws.start, sample_rate_hz=np.float64(ws.sample_rate_hz))


class IMUSpectrogramImages:
    """Unlabelled IMU windows, rendered as spectrogram images (one per sensor) batch by batch.

    ``positives="augment"``: the two views of a pair are augmentations of ONE window's images (IMG2IMU).
    ``"neighbour"``: the key view's window is drawn uniformly among the windows of the same recording that
    start at most ``neighbour_s`` seconds away (the query's own included), so the pair teaches that nearby
    moments of one recording look alike -- they mostly share an activity -- without any label.
    ``recordings_per_batch=G``: a batch's windows come from G recordings drawn uniformly (so that MoCo's
    far negatives, see ``MoCoConfig.far_negatives_s``, include other moments of the same recording).
    """

    def __init__(self, path: str, spec_cfg: SpectrogramConfig, positives: str = "augment",
                 neighbour_s: float = 5.0, recordings_per_batch: int = 0, needs_where: bool = False):
        if not path:
            raise ValueError("source 'imu' needs unlabelled windows: --imu-windows hapt-train, or "
                             "FILE.npz with x (N,C,T) and channels")
        if positives not in POSITIVES:
            raise ValueError(f"unknown --imu-positives {positives!r}; use one of {list(POSITIVES)}")
        if path == HAPT_TRAIN:
            ws = hapt_train_windows()
            x, channels, where = ws.x, ws.channels, (ws.recording, ws.start, ws.sample_rate_hz)
            rate = float(ws.sample_rate_hz)
        else:
            with np.load(path) as z:
                x = z["x"].astype(np.float32)
                channels = tuple(str(c) for c in z["channels"])
                keys = ("recording", "start", "sample_rate_hz")
                where = tuple(z[k] for k in keys) if all(k in z for k in keys) else None
                rate = float(z["sample_rate_hz"]) if "sample_rate_hz" in z else None  # None: the file does not say
            wants = [w for w, on in (("--imu-positives neighbour", positives == "neighbour"),
                                     ("--recordings-per-batch", recordings_per_batch > 0),
                                     ("--far-negatives", needs_where)) if on]
            if wants and where is None:
                raise ValueError(f"{path}: {', '.join(wants)} needs to know where each window lies: arrays "
                                 f"'recording' (N,), 'start' (N,) in samples, and 'sample_rate_hz'; it has "
                                 f"{sorted(z.files)}")
        self.x = torch.from_numpy(np.ascontiguousarray(x))
        self.channels = tuple(channels)
        self.sample_rate_hz = rate
        self.spectrogram = Spectrogram(channels, spec_cfg)
        self.spectrogram.fit_normalization(x)
        self.positives = positives
        if positives == "neighbour":
            self.order, self.low, self.high = neighbour_ranges(*where, neighbour_s)
        if recordings_per_batch < 0:
            raise ValueError(f"--recordings-per-batch must be >= 0, got {recordings_per_batch}")
        self.recordings_per_batch = recordings_per_batch
        self.where = None  # (N, 2): recording index, start in s
        if where is not None:
            names, rec = np.unique(np.asarray(where[0]).astype(str), return_inverse=True)
            start_s = np.asarray(where[1], np.float64) / float(where[2])
            self.where = torch.from_numpy(np.stack([rec, start_s], 1).astype(np.float32))
            self.by_recording = [torch.from_numpy(np.flatnonzero(rec == r)) for r in range(len(names))]

    def window_spec(self) -> WindowSpec | None:
        """The windows' channels, rate and length (the hop between an encoder's windows is not a property of
        the encoder: half a window, as ``imuedge train`` defaults to), or None when the rate is unknown."""
        if self.sample_rate_hz is None:
            return None
        t = self.x.shape[-1]
        return WindowSpec(self.channels, self.sample_rate_hz, t, max(1, t // 2))

    def images(self, index: torch.Tensor, n: int) -> torch.Tensor:
        with torch.no_grad():
            return self.spectrogram(self.x[index]).flatten(0, 1)[:n]  # (n, 3, H, W), sensors of a window adjacent

    def draw(self, windows: int, generator: torch.Generator) -> torch.Tensor:
        """Indices of ``windows`` windows: uniformly, or from ``recordings_per_batch`` recordings."""
        if not self.recordings_per_batch:
            return torch.randint(len(self.x), (windows,), generator=generator)
        per = -(-windows // self.recordings_per_batch)
        recordings = torch.randint(len(self.by_recording), (self.recordings_per_batch,), generator=generator)
        return torch.cat([self.by_recording[r][torch.randint(len(self.by_recording[r]), (per,), generator=generator)]
                          for r in recordings.tolist()])[:windows]

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``n`` images (from ceil(n / sensors) windows), their positives, and where each lies (or None)."""
        sensors = self.spectrogram.n_sensors
        index = self.draw(-(-n // sensors), generator)
        where = None if self.where is None else self.where[index].repeat_interleave(sensors, 0)[:n]
        if self.positives == "augment":
            images = self.images(index, n)
            return images, images, where
        span = (self.high - self.low)[index]
        pick = self.low[index] + (torch.rand(len(index), generator=generator) * span).long().clamp_max(span - 1)
        return self.images(index, n), self.images(self.order[pick], n), where


def neighbour_ranges(recording, start, sample_rate_hz, seconds: float):
    """``(order, low, high)``: the windows of window i's recording that start within ``seconds`` of it are
    ``order[low[i]:high[i]]`` (``order`` sorts the windows by recording, then start)."""
    recording, start = np.asarray(recording).astype(str), np.asarray(start, np.int64)
    if len(recording) != len(start):
        raise ValueError(f"'recording' ({len(recording)}) and 'start' ({len(start)}) differ in length")
    if seconds < 0:
        raise ValueError(f"--neighbour-seconds must be >= 0, got {seconds}")
    order = np.lexsort((start, recording))
    rec, st = recording[order], start[order]
    reach = int(round(seconds * float(sample_rate_hz)))
    low, high = np.empty(len(st), np.int64), np.empty(len(st), np.int64)
    bounds = np.flatnonzero(np.r_[True, rec[1:] != rec[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:]):  # one recording: sorted positions a..b-1
        low[a:b] = a + np.searchsorted(st[a:b], st[a:b] - reach, side="left")
        high[a:b] = a + np.searchsorted(st[a:b], st[a:b] + reach, side="right")
    back = np.empty_like(order)
    back[order] = np.arange(len(order))  # window i sits at sorted position back[i]
    return torch.from_numpy(order), torch.from_numpy(low[back]), torch.from_numpy(high[back])
