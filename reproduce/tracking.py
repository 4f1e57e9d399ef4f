"""MLflow bookkeeping: one experiment per paper, one run per job, and a status that never lies.

A run is created before anything else is built, so a job that dies while loading data or training
still leaves a FAILED (or, on Ctrl-C, KILLED) run with everything it logged and the error as a tag.
The default store is one sqlite file; parallel sweep jobs share it, which is safe because the
schema is created once by the launcher process (PrepareStoreCallback) and every connection waits
for sqlite's lock (`?timeout=` in the URI) instead of failing with "database is locked".
"""

from __future__ import annotations

import functools
import logging
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from reproduce import REPO_ROOT

log = logging.getLogger(__name__)

# Transient sqlite contention that survives the lock timeout (e.g. during another process's schema
# check) is retried a few times before the run gives up.
_RETRIES, _RETRY_WAIT_S = 5, 2.0


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}, "c": [x, y]} -> {"a.b": 1, "c.0": x, "c.1": y}."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(node))
    else:
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in items:
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


@functools.cache
def git_sha() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return (sha + ("-dirty" if dirty else "")) if sha else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _retry(fn, *args, **kwargs):
    from sqlalchemy.exc import OperationalError

    for attempt in range(_RETRIES):
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # MLflow wraps sqlalchemy errors in MlflowException
            locked = isinstance(err, OperationalError) or "database is locked" in str(err)
            if not locked or attempt == _RETRIES - 1:
                raise
            time.sleep(_RETRY_WAIT_S * (attempt + 1))


def client_for(tracking: DictConfig | dict):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking["uri"])


def get_or_create_experiment(client, name: str, artifact_location: str | None) -> str:
    """Experiment id by name; parallel jobs may race to create it, so a lost race just looks it up."""
    exp = _retry(client.get_experiment_by_name, name)
    if exp is not None:
        return exp.experiment_id
    location = Path(artifact_location).as_uri() if artifact_location else None
    try:
        return client.create_experiment(name, artifact_location=f"{location}/{name}" if location else None)
    except Exception:
        exp = _retry(client.get_experiment_by_name, name)
        if exp is None:
            raise
        return exp.experiment_id


def prepare_store(tracking: DictConfig | dict) -> None:
    """Create (or migrate) the store once, up front: the first open of a new sqlite DB runs the schema
    migrations, which parallel jobs must not do at the same time."""
    if tracking.get("uri") is None:
        return
    if str(tracking["uri"]).startswith("sqlite:///"):
        db_path = Path(str(tracking["uri"])[len("sqlite:///"):].split("?", 1)[0])
        db_path.parent.mkdir(parents=True, exist_ok=True)
    _retry(client_for(tracking).search_experiments, max_results=1)


class PrepareStoreCallback(Callback):
    """Hydra callback: prepares the tracking store in the launcher process before any sweep job starts,
    and after the sweep says how many jobs failed (each failure is also a FAILED run in MLflow)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        prepare_store(config.tracking)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        log.info("sweep finished; see the runs with `make ui` or summarise them with `make report`")


def run_name(cfg: DictConfig) -> str:
    experiment = cfg.get("experiment_name") or f"{cfg.paper.name}/{cfg.method}"
    return f"{experiment}@{cfg.dataset.name}/s{cfg.seed}"


def run_tags(cfg: DictConfig, experiment: str, sweep: str) -> dict[str, str]:
    return {
        "paper": str(cfg.paper.name),
        "experiment": experiment,
        "method": str(cfg.method),
        "dataset": str(cfg.dataset.name),
        "seed": str(cfg.seed),
        "profile": str(cfg.profile.name),
        "hardware": str(cfg.hardware.name),
        "git_sha": git_sha(),
        "sweep_id": sweep,
        "mlflow.runName": run_name(cfg),
    }


class RunHandle:
    """What a job needs of its MLflow run: ids for Lightning's logger and helpers for the extras."""

    def __init__(self, client, run_id: str, experiment_id: str):
        self.client, self.run_id, self.experiment_id = client, run_id, experiment_id

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        for i in range(0, len(batch), 1000):
            _retry(self.client.log_batch, self.run_id, metrics=batch[i:i + 1000])

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        batch = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(batch), 100):
            _retry(self.client.log_batch, self.run_id, params=batch[i:i + 100])

    def set_tag(self, key: str, value: str) -> None:
        _retry(self.client.set_tag, self.run_id, key, value[:5000])

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)


@contextmanager
def tracked_run(cfg: DictConfig, experiment: str, sweep: str) -> Iterator[RunHandle | None]:
    """An MLflow run that ends FINISHED, FAILED (exception) or KILLED (Ctrl-C / SystemExit) whatever happens."""
    if cfg.tracking.uri is None:
        yield None
        return
    prepare_store(cfg.tracking)
    client = client_for(cfg.tracking)
    exp_id = get_or_create_experiment(client, str(cfg.paper.name), cfg.tracking.get("artifact_location"))
    run = _retry(client.create_run, exp_id, tags=run_tags(cfg, experiment, sweep), run_name=run_name(cfg))
    handle = RunHandle(client, run.info.run_id, exp_id)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    handle.log_params(flatten(resolved))
    handle.log_text(OmegaConf.to_yaml(resolved), "config.yaml")
    status = "FAILED"
    try:
        yield handle
        status = "FINISHED"
    except (KeyboardInterrupt, SystemExit):
        status = "KILLED"
        raise
    except BaseException as err:
        handle.set_tag("error", f"{type(err).__name__}: {err}".splitlines()[0])
        raise
    finally:
        _retry(client.set_terminated, handle.run_id, status)
