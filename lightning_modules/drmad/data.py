"""MNIST as the DrMAD experiment uses it: a 20,000-example pool and 5,000 test examples, as tensors.

The authors' code (hypergrad/mnist.py + experiments/*/mad.py) flattens the images, scales them to
[0, 1], subtracts the per-pixel mean of the 60,000 training images, and randomly partitions the
TRAINING images into the pool and the test set (`test_from: train`); the pool is re-split
15,000 / 5,000 (train / validation) at every meta-iteration by the module. `test_from: test` takes
the test examples from the official test set instead.

The "training set" this datamodule hands Lightning is one item per meta-iteration: the meta loop
is the training loop, and each step trains an inner network from scratch on the resident tensors.
"""

from __future__ import annotations

import lightning as L
import torch

from reproduce.errors import UserError


class DrMADDataModule(L.LightningDataModule):
    def __init__(self, name: str = "mnist", root: str = "data", mirror: str | None = None, download: bool = True,
                 pool_size: int = 20000, val_size: int = 5000, test_size: int = 5000, test_from: str = "train",
                 split_seed: int = 0, meta_iterations: int = 20, input_shape=(1, 28, 28), num_classes: int = 10,
                 synthetic_sizes=(512, 256), **generic_vision_keys):
        # generic_vision_keys: batch_size, eval_batch_size, train_subset... of conf/dataset/<name>.yaml,
        # which conf/paper_dataset/drmad_<name>.yaml specialises; the inner batch size is the optimizer's.
        super().__init__()
        if test_from not in ("train", "test"):
            raise UserError(f"dataset.test_from={test_from!r}: use 'train' (authors' code) or 'test'")
        if val_size >= pool_size:
            raise UserError(f"dataset.val_size={val_size} must be smaller than dataset.pool_size={pool_size}")
        self.name, self.root, self.mirror, self.download = name, root, mirror, download
        self.pool_size, self.val_size, self.test_size, self.test_from = pool_size, val_size, test_size, test_from
        self.split_seed, self.meta_iterations = split_seed, int(meta_iterations)
        self.input_shape, self.num_classes, self.synthetic_sizes = tuple(input_shape), num_classes, synthetic_sizes
        self.tensors: dict[str, torch.Tensor] = {}

    def prepare_data(self) -> None:
        if self.name != "synthetic":
            from lightning_modules.data.vision import load_vision_tensors

            load_vision_tensors(self.name, self.root, self.mirror, self.download)

    def setup(self, stage: str | None = None) -> None:
        if self.tensors:
            return
        from lightning_modules.data.vision import load_vision_tensors, synthetic_vision

        if self.name == "synthetic":
            data = synthetic_vision(self.input_shape, self.num_classes, *self.synthetic_sizes, seed=self.split_seed)
        else:
            data = load_vision_tensors(self.name, self.root, self.mirror, self.download)
        train_x = data["train_x"].flatten(1)
        mean = train_x.mean(0, keepdim=True)  # authors: per-pixel mean of all training images
        gen = torch.Generator().manual_seed(self.split_seed)
        perm = torch.randperm(train_x.shape[0], generator=gen)
        need = self.pool_size + (self.test_size if self.test_from == "train" else 0)
        if need > perm.numel():
            raise UserError(f"{self.name} has {perm.numel()} training images, fewer than pool_size + test_size = "
                            f"{need}: lower dataset.pool_size / dataset.test_size")
        pool = perm[: self.pool_size]
        if self.test_from == "train":
            test_x, test_y = train_x, data["train_y"]
            test_idx = perm[self.pool_size : need]
        else:
            test_x, test_y = data["test_x"].flatten(1), data["test_y"]
            test_idx = torch.randperm(test_x.shape[0], generator=gen)[: self.test_size]
        self.tensors = {
            "pool_x": train_x[pool] - mean, "pool_y": data["train_y"][pool],
            "test_x": test_x[test_idx] - mean, "test_y": test_y[test_idx],
        }

    def train_dataloader(self):
        # One item per meta-iteration; the item is its index. (A plain list would be read as a list of loaders.)
        return torch.utils.data.DataLoader(range(self.meta_iterations), batch_size=None)
