"""Reproduction suite for five papers by Jie Fu and co-authors.

`python -m reproduce <overrides>` is the one entry point (see reproduce/train.py);
`python -m reproduce.report` turns the MLflow store into reports/summary.{md,json}.
"""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = REPO_ROOT / "conf"

# MLflow phones home by default; the suite must run air-gapped and quiet.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def register_resolvers() -> None:
    """`${repo_root:}` in configs: the checkout's root, so no path depends on the working directory."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("repo_root"):
        OmegaConf.register_new_resolver("repo_root", lambda: str(REPO_ROOT))
