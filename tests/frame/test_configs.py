"""Every config the suite ships composes, and every published number carries its provenance."""

import subprocess
import sys

import pytest

from reproduce import CONF_DIR, REPO_ROOT
from reproduce.report import OPS, compose_experiment, experiment_names

EXPERIMENTS = experiment_names()
PROVENANCE = {"metric", "value", "tolerance", "source", "verified"}


def test_there_are_experiments():
    assert EXPERIMENTS, "conf/experiment/ is empty"


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_with_provenance(name):
    cfg = compose_experiment(name)
    assert cfg.paper is not None and cfg.dataset is not None, name
    assert cfg.paper.name == name.split("/", 1)[0], "experiments live in a folder named after their paper"
    assert cfg.method != "default", f"{name} must set method:"
    for item in cfg.published:
        missing = PROVENANCE - set(item)
        assert not missing, f"{name}: published entry lacks {missing}"
        assert isinstance(item.verified, bool) and item.source


@pytest.mark.parametrize("paper", sorted(p.stem for p in (CONF_DIR / "paper").glob("*.yaml")))
def test_paper_config_has_citation_and_well_formed_claims(paper):
    names = [n for n in EXPERIMENTS if n.startswith(f"{paper}/")]
    assert names, f"paper {paper} has no experiments"
    cfg = compose_experiment(names[0])
    assert cfg.paper.citation and cfg.paper.seeds
    for claim in cfg.paper.get("claims") or []:
        assert {"name", "metric", "lhs", "op", "rhs", "source", "verified"} <= set(claim), claim
        assert claim.op in set(OPS) | {"closer", "ratio>=", "within"}
        for side in ("lhs", "rhs", "ref"):
            ref = claim.get(side)
            if isinstance(ref, str):
                assert ref in EXPERIMENTS, f"claim {claim.name} refers to unknown experiment {ref}"


@pytest.mark.parametrize("args,expected", [
    (["paper=nope", "dataset=mnist"], "unknown paper 'nope': choose paper= one of"),
    (["hardware=tpu"], "unknown hardware 'tpu'"),
    (["hardware=cpu"], "no paper chosen"),
])
def test_bad_overrides_are_one_line(args, expected):
    proc = subprocess.run([sys.executable, "-m", "reproduce", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and expected in proc.stderr


def test_unknown_key_is_one_line():
    proc = subprocess.run([sys.executable, "-m", "reproduce", f"experiment={EXPERIMENTS[0]}", "trainer.max_epoch=3"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "trainer.max_epoch" in proc.stderr


def test_gpu_requested_without_gpu_is_one_line():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    proc = subprocess.run([sys.executable, "-m", "reproduce", f"experiment={EXPERIMENTS[0]}", "hardware=gpu",
                           "tracking=none"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "needs a CUDA GPU" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: hardware=gpu")


def test_glob_over_nested_experiments_is_spelled_out():
    from reproduce.cli import expand_globs

    args = expand_globs(["--multirun", "experiment=glob(drmad/*)", "seed=0,1"])
    names = args[1].removeprefix("experiment=").split(",")
    assert len(names) > 1 and all(n.startswith("drmad/") for n in names) and args[2] == "seed=0,1"
    assert expand_globs(["experiment=glob(drmad/*,exclude=drmad/speed*)"])[0].count("speed") == 0
    with pytest.raises(ValueError, match="matches no option"):
        expand_globs(["--multirun", "experiment=glob(nope/*)"])


@pytest.mark.parametrize("profile", ["cpu", "paper"])
def test_every_reproduce_all_stage_passes_the_entry_points_checks(profile):
    """The exact multirun arguments `make reproduce-all` hands to `python -m reproduce` compose."""
    from reproduce.all import PAPER_ORDER, paper_plan
    from reproduce.cli import validate_overrides_or_exit

    for paper in PAPER_ORDER:
        stages, seeds = paper_plan(paper, profile)
        for stage in stages:
            args = validate_overrides_or_exit(["--multirun", f"experiment=glob({stage})",
                                               f"seed={','.join(map(str, seeds))}", f"profile={profile}"])
            assert args[1].startswith("experiment=") and "glob" not in args[1], stage
