"""Session fixtures: one MLflow sqlite store per test session (its first open migrates the schema,
~7 s, so tests share it), and quiet, offline defaults."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# The fast tier must never read the real data mirror; `data`-marked tests get it from a fixture.
_USER_MIRROR = os.environ.pop("REPRO_DATA_MIRROR", None)


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory) -> str:
    from reproduce.tracking import prepare_store

    db = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    uri = f"sqlite:///{db}?timeout=60"
    prepare_store({"uri": uri})
    return uri


@pytest.fixture(scope="session")
def data_mirror() -> str:
    """The real offline mirror, for tests marked `data` (REPRO_DATA_MIRROR, or ../shared/data beside the repo)."""
    from reproduce import REPO_ROOT

    path = _USER_MIRROR or str(REPO_ROOT.parent / "shared" / "data")
    if not os.path.isdir(path):
        pytest.skip("no data mirror: set REPRO_DATA_MIRROR to a folder laid out like shared/data")
    return path
