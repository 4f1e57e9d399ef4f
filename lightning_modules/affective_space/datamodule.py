"""LightningDataModule for `dataset=senticnet`: the proxy AffectNet matrix, targets and the split.

There is nothing to batch: fit builds the space from the whole matrix in one step and validation
runs the reasoning tasks once, so each loader yields a single placeholder batch and the module reads
the data from `trainer.datamodule`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_modules.affective_space.data import FEATURE_GROUPS, WNA_DIR, AffectiveData, load_affective_data
from reproduce.errors import UserError

log = logging.getLogger(__name__)


def resolve_wordnet_affect(data_dir: str | None, mirror: str | None, subdir: str = WNA_DIR) -> Path | None:
    """The WordNet-Affect folder: copied from the mirror into data_dir, or already in data_dir.

    WordNet-Affect has no public download (FBK hands it out on request), so a mirror or a copy
    placed in data_dir is the only source.
    """
    from lightning_modules.data.mirror import fetch_from_mirror

    if data_dir is not None:
        fetched = fetch_from_mirror(mirror, subdir, data_dir)
        if fetched is not None:
            return fetched
        local = Path(data_dir) / subdir
        if local.is_dir():
            return local
    return None


class SenticNetDataModule(L.LightningDataModule):
    def __init__(self, name: str = "senticnet", data_dir: str | None = None, data_mirror: str | None = None,
                 cache_dir: str | None = None, senticnet_file: str | None = None,
                 feature_groups: list[str] | tuple[str, ...] = FEATURE_GROUPS, min_feature_count: int = 1,
                 holdout_fraction: float = 0.2, split_seed: int = 0):
        super().__init__()
        if not 0.0 < holdout_fraction < 1.0:
            raise UserError(f"dataset.holdout_fraction must lie in (0, 1), got {holdout_fraction}")
        self.name = name
        self.data_dir, self.data_mirror, self.cache_dir = data_dir, data_mirror, cache_dir
        self.senticnet_file = senticnet_file
        self.feature_groups = tuple(feature_groups)
        self.min_feature_count = int(min_feature_count)
        self.holdout_fraction = float(holdout_fraction)
        self.split_seed = int(split_seed)
        self.data: AffectiveData | None = None
        self.train_idx: np.ndarray | None = None
        self.test_idx: np.ndarray | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.data is not None:
            return
        # WordNet-Affect also names the emotion categories that seed sentic medoids, so it is read
        # whenever present; it is required only when its features are asked for
        wna = resolve_wordnet_affect(self.data_dir, self.data_mirror)
        if "wordnet_affect" in self.feature_groups:
            if wna is None:
                raise UserError(f"WordNet-Affect 1.1 not found in {self.data_dir}/{WNA_DIR} or the mirror: "
                                "set paths.data_mirror (or REPRO_DATA_MIRROR) to a folder holding "
                                f"{WNA_DIR}/, or run with dataset.feature_groups without wordnet_affect")
        self.data = load_affective_data(self.cache_dir, wna, self.senticnet_file, self.feature_groups,
                                        self.min_feature_count)
        info = self.data.proxy.describe()
        log.info("proxy AffectNet: %d concepts x %d features, nnz %d (%s)", info["concepts"],
                 info["features"], info["nnz"], info["nnz_per_group"])
        # concepts held out of every target the reasoning tasks read (their features stay: the space is
        # built over all concepts, as AffectiveSpace is, and only their labels are hidden)
        n = info["concepts"]
        perm = np.random.default_rng(self.split_seed).permutation(n)
        n_test = max(1, int(round(self.holdout_fraction * n)))
        self.test_idx, self.train_idx = np.sort(perm[:n_test]), np.sort(perm[n_test:])

    def _one_batch(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.zeros(1)), batch_size=1)

    def train_dataloader(self) -> DataLoader:
        return self._one_batch()

    def val_dataloader(self) -> DataLoader:
        return self._one_batch()
