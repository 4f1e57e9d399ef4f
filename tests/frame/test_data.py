"""Vision data through torchvision's real loaders, on generated files in the canonical formats."""

import gzip
import hashlib
import pickle
import struct
import tarfile

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd

from lightning_modules.data.mirror import fetch_from_mirror, md5sum
from lightning_modules.data.vision import TensorBatches, VisionDataModule, load_vision_tensors
from reproduce.errors import UserError


def _idx_images(n, rng):
    return struct.pack(">IIII", 2051, n, 28, 28) + rng.integers(0, 256, (n, 28, 28), dtype=np.uint8).tobytes()


def _idx_labels(n, rng):
    return struct.pack(">II", 2049, n) + rng.integers(0, 10, n, dtype=np.uint8).tobytes()


@pytest.fixture
def mnist_mirror(tmp_path, monkeypatch):
    """A mirror with MNIST's four idx .gz files (generated); torchvision's md5 list is pointed at them."""
    rng = np.random.default_rng(0)
    raw = tmp_path / "mirror" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    resources = []
    for url, _ in tvd.MNIST.resources:
        name = url.rsplit("/", 1)[-1]
        n = 300 if "train" in name else 100
        payload = _idx_images(n, rng) if "images" in name else _idx_labels(n, rng)
        (raw / name).write_bytes(gzip.compress(payload))
        resources.append((name, md5sum(raw / name)))
    monkeypatch.setattr(tvd.MNIST, "resources", resources)
    return tmp_path / "mirror"


def test_mnist_from_mirror_through_torchvision(tmp_path, mnist_mirror):
    data = load_vision_tensors("mnist", tmp_path / "root", mirror=mnist_mirror, download=True)
    assert data["train_x"].shape == (300, 1, 28, 28) and data["test_x"].shape == (100, 1, 28, 28)
    assert data["train_x"].dtype == torch.float32 and 0.0 <= data["train_x"].min() <= data["train_x"].max() <= 1.0
    assert data["train_y"].dtype == torch.int64 and int(data["train_y"].max()) <= 9
    assert (tmp_path / "root" / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()  # extracted by torchvision


def test_corrupt_mirror_file_is_refused(tmp_path, mnist_mirror, monkeypatch):
    name = tvd.MNIST.resources[0][0]
    monkeypatch.setattr(tvd.MNIST, "resources", [(name, "0" * 32)] + tvd.MNIST.resources[1:])
    with pytest.raises(UserError, match="md5"):
        load_vision_tensors("mnist", tmp_path / "root", mirror=mnist_mirror)


def test_missing_data_offline_names_file_and_both_remedies(tmp_path):
    with pytest.raises(UserError) as err:
        load_vision_tensors("fashion_mnist", tmp_path / "empty", mirror=None, download=False)
    message = str(err.value)
    assert "train-images-idx3-ubyte.gz" in message and "REPRO_DATA_MIRROR" in message and "network" in message
    assert "\n" not in message


def test_bad_mirror_folder_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="not a folder"):
        fetch_from_mirror(tmp_path / "nope", "MNIST/raw", tmp_path)


def test_cifar10_tarball_through_torchvision(tmp_path, monkeypatch):
    """CIFAR-10's python pickles in a tar.gz, as the canonical archive ships them."""
    rng = np.random.default_rng(1)
    folder = tmp_path / "build" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    lists = {}
    for attr, names in (("train_list", [f"data_batch_{i}" for i in range(1, 6)]), ("test_list", ["test_batch"])):
        lists[attr] = []
        for name in names:
            batch = {"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), "labels": list(rng.integers(0, 10, 20))}
            with open(folder / name, "wb") as fh:
                pickle.dump(batch, fh)
            lists[attr].append([name, md5sum(folder / name)])
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [str(i) for i in range(10)]}, fh)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with tarfile.open(mirror / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    for attr, value in lists.items():
        monkeypatch.setattr(tvd.CIFAR10, attr, value)
    monkeypatch.setattr(tvd.CIFAR10, "meta", {**tvd.CIFAR10.meta, "md5": md5sum(folder / "batches.meta")})
    monkeypatch.setattr(tvd.CIFAR10, "tgz_md5", hashlib.md5((mirror / "cifar-10-python.tar.gz").read_bytes()).hexdigest())
    data = load_vision_tensors("cifar10", tmp_path / "root", mirror=mirror)
    assert data["train_x"].shape == (100, 3, 32, 32) and data["test_x"].shape == (20, 3, 32, 32)


def test_tensor_batches_are_seeded_and_ddp_shards_disjoint():
    x, y = torch.arange(100).float().unsqueeze(1), torch.arange(100)
    a = [b[1] for b in TensorBatches(x, y, 16, shuffle=True, seed=3)]
    b = [b[1] for b in TensorBatches(x, y, 16, shuffle=True, seed=3)]
    assert all(torch.equal(u, v) for u, v in zip(a, b)) and sorted(torch.cat(a).tolist()) == list(range(100))
    shards = [torch.cat([b[1] for b in TensorBatches(x, y, 8, shuffle=True, seed=3, rank=r, world_size=2)])
              for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 50 and not set(shards[0].tolist()) & set(shards[1].tolist())


def test_datamodule_holds_splits_in_memory():
    dm = VisionDataModule("synthetic", root="unused", val_size=64, input_shape=(3, 32, 32), synthetic_sizes=(300, 50))
    dm.setup("fit")
    xs = {k: v[0].shape[0] for k, v in dm.splits.items()}
    assert xs == {"train": 240, "val": 60, "test": 50}  # val capped at a fifth of the pool
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (128, 3, 32, 32) and y.shape == (128,)


@pytest.mark.data
def test_real_mnist_from_the_mirror(tmp_path, data_mirror):
    data = load_vision_tensors("mnist", tmp_path, mirror=data_mirror)
    assert data["train_x"].shape == (60000, 1, 28, 28) and data["test_x"].shape == (10000, 1, 28, 28)
