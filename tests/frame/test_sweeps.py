"""Real Hydra sweeps through `python -m reproduce`: a failing job does not stop the others, and
parallel jobs share one sqlite store without "database is locked"."""

import multiprocessing as mp
import os
import subprocess
import sys

from mlflow.tracking import MlflowClient

from reproduce import REPO_ROOT
from tests.helpers import FIXTURE_CONF


def _sweep(tmp_path, uri, *args):
    # PYTHONPATH: the toy fixture lives in tests/, which is not an installed package
    env = {**os.environ, "REPRO_ROOT": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    cmd = [sys.executable, "-m", "reproduce", "-m", f"hydra.searchpath=[file://{FIXTURE_CONF}]",
           f"tracking.uri='{uri}'", *args]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def _statuses(uri, sweep_tag_contains):
    client = MlflowClient(uri)
    exps = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(exps, filter_string=f"tags.sweep_id LIKE '%{sweep_tag_contains}%'")
    return sorted((r.data.tags["experiment"], r.data.params["paper.module.fail_at_epoch"], r.info.status)
                  for r in runs)


def test_joblib_sweep_survives_a_failing_job(tmp_path):
    # glob(toy/*): the experiments sit one folder down, where Hydra's own glob matches nothing
    uri = f"sqlite:///{tmp_path}/store/mlflow.db?timeout=60"
    proc = _sweep(tmp_path, uri, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "num_threads=1",
                  "experiment=glob(toy/*)", "paper.module.fail_at_epoch=null,0", "trainer.max_epochs=1",
                  f"hydra.sweep.dir={tmp_path}/sweep_a")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "database is locked" not in proc.stdout + proc.stderr
    assert _statuses(uri, "sweep_a") == [
        ("toy/fast", "0", "FAILED"), ("toy/fast", "None", "FINISHED"),
        ("toy/slow", "0", "FAILED"), ("toy/slow", "None", "FINISHED"),
    ]


def test_basic_launcher_sweep(tmp_path):
    uri = f"sqlite:///{tmp_path}/store/mlflow.db?timeout=60"
    proc = _sweep(tmp_path, uri, "experiment=toy/fast", "seed=0,1", "trainer.max_epochs=1",
                  f"hydra.sweep.dir={tmp_path}/sweep_b")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [s for *_, s in _statuses(uri, "sweep_b")] == ["FINISHED", "FINISHED"]
    assert (tmp_path / "sweep_b" / "0" / ".hydra" / "config.yaml").exists()


def _hammer(uri: str, worker: int, n_runs: int) -> None:
    from reproduce.tracking import RunHandle, _retry, client_for, get_or_create_experiment

    client = client_for({"uri": uri})
    exp = get_or_create_experiment(client, "contention", None)
    for i in range(n_runs):
        run = _retry(client.create_run, exp, tags={"worker": str(worker)})
        handle = RunHandle(client, run.info.run_id, exp)
        for step in range(10):
            handle.log_metrics({"train/loss": 1.0 / (step + 1), "val/error": float(step)}, step=step)
        handle.log_params({"i": i})
        _retry(client.set_terminated, run.info.run_id, "FINISHED")


def test_parallel_writers_share_one_sqlite_store(tmp_path):
    from reproduce.tracking import prepare_store

    uri = f"sqlite:///{tmp_path}/mlflow.db?timeout=60"
    prepare_store({"uri": uri})
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(uri, w, 3)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("contention").experiment_id])
    assert len(runs) == 12 and all(r.info.status == "FINISHED" for r in runs)
    assert all(len(client.get_metric_history(r.info.run_id, "train/loss")) == 10 for r in runs)
