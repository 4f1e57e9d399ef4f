"""MNIST, Fashion-MNIST and CIFAR-10 held as tensors, loaded through torchvision's standard classes.

Why tensors and not a DataLoader over PIL images: the papers' nets are small, so per-sample Python
transforms would dominate the step time. The whole split (at most 60,000 x 3,072 bytes) is decoded
once, kept as float32 in [0, 1] and moved to the training device in one copy; batches are index
slices of that resident tensor.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch

from lightning_modules.data.mirror import MIRROR_ENV, fetch_from_mirror
from reproduce.errors import UserError

# name -> (torchvision class name, input shape); the class is imported late to keep start-up fast.
VISION_DATASETS = {
    "mnist": ("MNIST", (1, 28, 28)),
    "fashion_mnist": ("FashionMNIST", (1, 28, 28)),
    "cifar10": ("CIFAR10", (3, 32, 32)),
}


def _torchvision_class(name: str):
    import torchvision.datasets as tvd

    if name not in VISION_DATASETS:
        raise UserError(f"unknown vision dataset '{name}': choose one of {', '.join(VISION_DATASETS)}")
    return getattr(tvd, VISION_DATASETS[name][0])


def _copy_from_mirror(cls, root: Path, mirror) -> None:
    """Copy the canonical archives from the mirror; torchvision then verifies their md5 and extracts them."""
    if hasattr(cls, "resources"):  # MNIST family: four idx .gz files under <Class>/raw/
        for url, md5 in cls.resources:
            fetch_from_mirror(mirror, f"{cls.__name__}/raw/{url.rsplit('/', 1)[-1]}", root, md5=md5)
    else:  # CIFAR: one tarball, or an already extracted batches folder
        if fetch_from_mirror(mirror, cls.filename, root, md5=cls.tgz_md5) is None:
            fetch_from_mirror(mirror, cls.base_folder, root)


def _missing_file(cls, root: Path) -> str:
    if hasattr(cls, "resources"):
        return str(root / cls.__name__ / "raw" / cls.resources[0][0].rsplit("/", 1)[-1])
    return str(root / cls.filename)


def load_vision_tensors(name: str, root: str | Path, mirror=None, download: bool = True) -> dict:
    """Train and test splits as CPU tensors: x float32 [N, C, H, W] in [0, 1], y int64 [N]."""
    cls = _torchvision_class(name)
    root = Path(root).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    _copy_from_mirror(cls, root, mirror)
    out = {}
    for split, train in (("train", True), ("test", False)):
        try:
            ds = cls(str(root), train=train, download=download)
        except (RuntimeError, OSError) as err:  # torchvision raises these for missing/corrupt data offline
            raise UserError(
                f"{name} data missing or corrupt ({_missing_file(cls, root)}): set {MIRROR_ENV}=<folder with "
                f"the canonical files> (or paths.data_mirror=...), or run once with network access"
            ) from err
        data = torch.as_tensor(ds.data)
        if data.ndim == 3:  # MNIST family: [N, H, W] uint8
            data = data.unsqueeze(1)
        else:  # CIFAR: numpy [N, H, W, C] uint8
            data = data.permute(0, 3, 1, 2)
        out[f"{split}_x"] = data.contiguous().float().div_(255.0)
        out[f"{split}_y"] = torch.as_tensor(ds.targets, dtype=torch.int64)
    return out


def synthetic_vision(input_shape=(1, 28, 28), num_classes: int = 10, n_train: int = 512, n_test: int = 256,
                     seed: int = 0) -> dict:
    """Generated data of a real dataset's shape: noisy class prototypes, so a net can learn it in a few steps."""
    gen = torch.Generator().manual_seed(seed)
    protos = torch.rand((num_classes, *input_shape), generator=gen)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = torch.randint(num_classes, (n,), generator=gen)
        noise = 0.35 * torch.randn((n, *input_shape), generator=gen)
        out[f"{split}_x"] = (protos[y] + noise).clamp_(0.0, 1.0)
        out[f"{split}_y"] = y
    return out


class TensorBatches:
    """An iterable of (x, y) minibatches sliced from resident tensors.

    A fresh permutation per pass comes from a generator seeded with (seed, pass number), so the
    batch order is reproducible. Under DDP each rank takes every world_size-th index of the same
    permutation: the shards are disjoint and equally sized.
    """

    def __init__(self, x, y, batch_size: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1,
                 drop_last: bool = False):
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self.seed, self.rank, self.world_size, self.drop_last = seed, rank, world_size, drop_last
        self._passes = 0

    def _indices(self) -> torch.Tensor:
        n = self.x.shape[0]
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 100_003 + self._passes)
            idx = torch.randperm(n, generator=gen)
        else:
            idx = torch.arange(n)
        per_rank = n // self.world_size
        return idx[self.rank :: self.world_size][:per_rank].to(self.x.device)

    def __len__(self) -> int:
        per_rank = self.x.shape[0] // self.world_size
        return per_rank // self.batch_size if self.drop_last else math.ceil(per_rank / self.batch_size)

    def __iter__(self):
        idx = self._indices()
        self._passes += 1
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            batch = idx[start : start + self.batch_size]
            yield self.x.index_select(0, batch), self.y.index_select(0, batch)


class VisionDataModule(L.LightningDataModule):
    """Train/val/test splits of a vision dataset, resident on the training device.

    `val_size` examples are held out of the training set (a seeded split, fixed across methods so
    every method is validated on the same images). `train_subset` caps the training set for small
    budgets. `name=synthetic` generates data of `input_shape` instead of loading anything.
    """

    def __init__(self, name: str, root: str, mirror: str | None = None, download: bool = True,
                 batch_size: int = 128, eval_batch_size: int = 1000, val_size: int = 5000,
                 train_subset: int | None = None, split_seed: int = 0, input_shape=(1, 28, 28),
                 num_classes: int = 10, synthetic_sizes=(512, 256)):
        super().__init__()
        self.name, self.root, self.mirror, self.download = name, root, mirror, download
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.val_size, self.train_subset, self.split_seed = val_size, train_subset, split_seed
        self.input_shape, self.num_classes = tuple(input_shape), num_classes
        self.synthetic_sizes = tuple(synthetic_sizes)
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._on_device: dict = {}

    def prepare_data(self) -> None:
        if self.name != "synthetic":  # copy/verify/download once, on one process
            load_vision_tensors(self.name, self.root, self.mirror, self.download)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        if self.name == "synthetic":
            data = synthetic_vision(self.input_shape, self.num_classes, *self.synthetic_sizes, seed=self.split_seed)
        else:
            data = load_vision_tensors(self.name, self.root, self.mirror, self.download)
        x, y = data["train_x"], data["train_y"]
        perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(self.split_seed))
        n_val = min(self.val_size, x.shape[0] // 5)
        val_idx, train_idx = perm[:n_val], perm[n_val:]
        if self.train_subset:
            train_idx = train_idx[: self.train_subset]
        self.splits = {
            "train": (x[train_idx], y[train_idx]),
            "val": (x[val_idx], y[val_idx]),
            "test": (data["test_x"], data["test_y"]),
        }

    def _device_split(self, split: str):
        """The split moved to the trainer's device once, then reused every epoch."""
        trainer = getattr(self, "trainer", None)
        device = trainer.strategy.root_device if trainer is not None else torch.device("cpu")
        key = (split, str(device))
        if key not in self._on_device:
            x, y = self.splits[split]
            self._on_device[key] = (x.to(device), y.to(device))
        return self._on_device[key]

    def _batches(self, split: str, batch_size: int, shuffle: bool) -> TensorBatches:
        trainer = getattr(self, "trainer", None)
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        x, y = self._device_split(split)
        seed = torch.initial_seed() % (2**31)  # follows seed_everything, so the order is reproducible per seed
        return TensorBatches(x, y, batch_size, shuffle, seed=seed, rank=rank, world_size=world)

    def train_dataloader(self):
        return self._batches("train", self.batch_size, shuffle=True)

    def val_dataloader(self):
        return self._batches("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self):
        return self._batches("test", self.eval_batch_size, shuffle=False)
