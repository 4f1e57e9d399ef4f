"""`dataset=tsplib`: one TSPLIB instance, and a stream of iteration indices as the 'batches'.

ACO has no data to batch: each training step is one colony iteration, so the loader yields
0, 1, 2, ... and the module stops the trainer when its iteration budget (an optimizer setting,
1000 in the authors' code) is spent or its stagnation rule ends the run.
"""

from __future__ import annotations

import itertools

import lightning as L
import torch
from torch.utils.data import DataLoader, IterableDataset

from lightning_modules.parallel_aco.tsplib import TSPInstance, load_instance


class _Iterations(IterableDataset):
    def __iter__(self):
        return (torch.tensor(i) for i in itertools.count())


class TSPLIBDataModule(L.LightningDataModule):
    def __init__(self, instance: str = "eil51", name: str = "tsplib", data_dir: str | None = None,
                 mirror: str | None = None):
        super().__init__()
        self.instance_name, self.name, self.data_dir, self.mirror = str(instance), name, data_dir, mirror
        self.instance: TSPInstance | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.instance is None:
            self.instance = load_instance(self.instance_name, mirror=self.mirror, data_dir=self.data_dir)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_Iterations(), batch_size=None, num_workers=0)
