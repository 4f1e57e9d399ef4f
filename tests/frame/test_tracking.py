"""A run's MLflow record: params, tags, per-epoch metrics, published/gap, and an honest final status."""

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import run_entry


def _runs(uri, **tags):
    client = MlflowClient(uri)
    query = " and ".join(f"tags.{k} = '{v}'" for k, v in tags.items())
    exps = [e.experiment_id for e in client.search_experiments()]
    return client, client.search_runs(exps, filter_string=query)


def test_finished_run_records_everything(tmp_path, tracking_uri):
    metrics = run_entry(["experiment=toy/fast", "trainer.max_epochs=3", "seed=11"], tmp_path, tracking_uri,
                        fixtures=True)
    client, runs = _runs(tracking_uri, experiment="toy/fast", seed="11")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    for tag in ("paper", "experiment", "method", "dataset", "seed", "git_sha", "sweep_id", "profile"):
        assert run.data.tags[tag], tag
    assert run.data.tags["method"] == "fast" and run.data.tags["dataset"] == "synthetic"
    assert run.data.params["paper.module.lr"] == "0.5"
    assert run.data.params["published.0.source"] == "test fixture"
    assert run.data.metrics["published/test/error"] == 5.0
    assert run.data.metrics["gap/test/error"] == pytest.approx(metrics["test/error"] - 5.0)
    assert len(client.get_metric_history(run.info.run_id, "val/error")) == 3  # one point per epoch
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id)]
    assert "config.yaml" in artifacts


def test_crashed_run_is_failed_and_keeps_its_metrics(tmp_path, tracking_uri):
    with pytest.raises(RuntimeError, match="toy failure"):
        run_entry(["experiment=toy/fast", "trainer.max_epochs=4", "seed=12", "paper.module.fail_at_epoch=2"],
                  tmp_path, tracking_uri, fixtures=True)
    client, runs = _runs(tracking_uri, experiment="toy/fast", seed="12")
    assert [r.info.status for r in runs] == ["FAILED"]
    assert "toy failure" in runs[0].data.tags["error"]
    # the two epochs that completed before the crash are still there
    assert len(client.get_metric_history(runs[0].info.run_id, "val/error")) == 2


def test_interrupted_run_is_killed(tmp_path, tracking_uri):
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        run_entry(["experiment=toy/fast", "trainer.max_epochs=3", "seed=13", "paper.module.interrupt_at_epoch=1"],
                  tmp_path, tracking_uri, fixtures=True)
    _, runs = _runs(tracking_uri, experiment="toy/fast", seed="13")
    assert [r.info.status for r in runs] == ["KILLED"]


def test_same_seed_same_numbers(tmp_path, tracking_uri):
    first = run_entry(["experiment=toy/fast", "trainer.max_epochs=2", "seed=5", "tracking=none"], tmp_path,
                      fixtures=True)
    second = run_entry(["experiment=toy/fast", "trainer.max_epochs=2", "seed=5", "tracking=none"], tmp_path,
                       fixtures=True)
    other = run_entry(["experiment=toy/fast", "trainer.max_epochs=2", "seed=6", "tracking=none"], tmp_path,
                      fixtures=True)
    assert first["test/error"] == second["test/error"] and first["train/loss"] == second["train/loss"]
    assert first["train/loss"] != other["train/loss"]
