"""The LightningModule through the real entry point, the configs, and run-level behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from lightning_modules.parallel_aco.tsplib import INSTANCE_DIR, load_instance, random_euclidean, read_optima
from reproduce.errors import UserError
from reproduce.report import experiment_names
from tests.helpers import run_entry

EXPERIMENTS = [n for n in experiment_names() if n.startswith("parallel_aco/")]


def test_entry_point_runs_an_experiment(tmp_path, tracking_uri):
    metrics = run_entry(["experiment=parallel_aco/eil51_air_mmas_air", "paper.budgets.default.iterations=6"],
                        tmp_path, tracking_uri)
    assert metrics["final/iterations"] == 6
    assert metrics["final/best_length"] >= 426 and metrics["published/final/best_length"] == 426
    assert metrics["gap/final/best_length"] == metrics["final/best_length"] - 426
    assert metrics["final/gap"] == pytest.approx(100 * (metrics["final/best_length"] - 426) / 426)
    for key in ("train/best_length", "train/gap", "train/branching", "time/iteration_ms", "train/tours_per_s",
                "time/iteration_ms_mean", "final/tours_per_s"):
        assert key in metrics and np.isfinite(metrics[key]), key
    # the module's loop without Lightning (benchmarks, studies) gives the same run
    import yaml

    from lightning_modules.parallel_aco import run_colony
    from reproduce import CONF_DIR

    optimizer = yaml.safe_load((CONF_DIR / "optimizer" / "mmas_air.yaml").read_text())
    same = run_colony(load_instance("eil51"), optimizer, "air", seed=0, iterations=6)
    assert same["final/best_length"] == metrics["final/best_length"]


def test_sequential_baseline_through_the_entry_point(tmp_path, tracking_uri):
    metrics = run_entry(["experiment=parallel_aco/eil51_sequential_mmas_air", "paper.budgets.default.iterations=2"],
                        tmp_path, tracking_uri)
    assert metrics["final/iterations"] == 2 and metrics["final/best_length"] >= 426


def test_experiment_set_covers_instances_rules_and_variants():
    instances = ["eil51", "berlin52", "kroA100", "ch150", "a280", "lin318"]
    expected = {f"parallel_aco/{i}_{s}_{v}" for i in instances for s in ("air", "roulette") for v in ("mmas_air", "mmas")}
    expected |= {f"parallel_aco/{i}_sequential_mmas_air" for i in ("eil51", "kroA100", "ch150")}
    expected.add("parallel_aco/kroA100_air_mmas_air_rownorm")
    assert set(EXPERIMENTS) == expected


def _compose_many(overrides: list[list[str]]):
    """Compose several configs in one Hydra context (each fresh initialisation rescans conf/)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from reproduce import CONF_DIR, register_resolvers

    register_resolvers()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return [compose(config_name="train", overrides=o) for o in overrides]
    finally:
        GlobalHydra.instance().clear()


@pytest.mark.parametrize("profile", ["cpu", "paper"])
def test_every_experiment_composes_with_its_optimum_and_budget(profile):
    from hydra.utils import instantiate

    optima = read_optima(INSTANCE_DIR / "bestSolutions.txt")
    names = set(EXPERIMENTS)
    # every experiment under the CPU budget; one per instance under the published one (a compose
    # of the suite's config tree costs ~0.2 s)
    chosen = EXPERIMENTS if profile == "cpu" else [n for n in EXPERIMENTS if n.endswith("_air_mmas_air")]
    cfgs = _compose_many([[f"experiment={name}", f"profile={profile}"] for name in chosen])
    for name, cfg in zip(chosen, cfgs):
        instance, selection, variant = name.split("/")[1].split("_", 2)
        assert cfg.dataset.instance == instance and cfg.method == selection
        assert cfg.optimizer.variant == variant.removesuffix("_rownorm")
        (item,) = cfg.published
        assert item.value == optima[instance] and item.verified is True and "TSPLIB" in item.source
        module = instantiate(cfg.paper.module, _convert_="all")
        assert module.params.iterations == (1000 if profile == "paper" else (200 if instance in ("a280", "lin318") else 300))
        assert module.params.ants is None and module.selection == selection
    cfg = cfgs[0]
    assert list(cfg.paper.seeds) == ([0, 1, 2, 3, 4] if profile == "paper" else [0])
    for claim in cfg.paper.claims:
        assert claim.lhs in names and claim.rhs in names and claim.source and claim.verified is not None


def test_same_seed_same_run_and_the_seed_matters():
    from lightning_modules.parallel_aco import run_colony

    instance = random_euclidean(30, seed=1)
    opt = {"variant": "mmas_air", "iterations": 15}
    first = run_colony(instance, opt, "air", seed=3)
    assert run_colony(instance, opt, "air", seed=3)["final/best_length"] == first["final/best_length"]
    others = {run_colony(instance, opt, "air", seed=s)["final/best_length"] for s in (4, 5, 6)}
    assert len(others | {first["final/best_length"]}) > 1


def test_colony_improves_on_a_real_instance():
    from lightning_modules.parallel_aco import run_colony

    from lightning_modules.parallel_aco.mmas import nearest_neighbour_length

    instance = load_instance("eil51")
    result = run_colony(instance, {"variant": "mmas_air", "iterations": 60}, "air", seed=0)
    # better than the greedy tour that seeds MMAS's trail limits (random tours: ~300% above optimal)
    assert result["final/best_length"] < nearest_neighbour_length(instance.distance_matrix())


def test_user_errors_are_one_clear_sentence():
    from lightning_modules.parallel_aco import ParallelACO
    from lightning_modules.parallel_aco.module import Constructor

    with pytest.raises(UserError, match="selection 'greedy'"):
        ParallelACO({"variant": "mmas_air"}, selection="greedy")
    with pytest.raises(UserError, match="bad MMAS setting"):
        ParallelACO({"variant": "mmas_air", "alhpa": 1.0})
    import torch

    with pytest.raises(UserError, match="hardware=gpu"):
        Constructor("air", "cuda", 5, 5, 0, torch.device("cpu"))
