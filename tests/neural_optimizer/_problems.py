"""Small optimizee problems on generated data of MNIST's shape (no files, no network)."""

from __future__ import annotations

import torch

from lightning_modules.data.vision import synthetic_vision
from lightning_modules.neural_optimizer.optimizee import MLPSpec, ResidentData
from lightning_modules.neural_optimizer.runner import Problem


def synthetic_problem(n_train: int = 256, n_test: int = 128, hidden=(8,), batch_size: int = 32,
                      input_shape=(1, 12, 12), dtype=torch.float32) -> Problem:
    data = ResidentData(synthetic_vision(input_shape, 10, n_train, n_test, seed=0))
    if dtype != torch.float32:
        data.train_x, data.test_x = data.train_x.to(dtype), data.test_x.to(dtype)
    return Problem(MLPSpec(data.in_features, tuple(hidden), data.n_classes, "sigmoid"), data, batch_size)
