"""The offline data mirror: a read-only folder laid out like the data root.

Air-gapped users point the suite at a folder holding the canonical files (config value
`paths.data_mirror` or the environment variable REPRO_DATA_MIRROR); the suite copies what a run needs
into its writable data root and verifies it, so the standard loaders then find the data already
there and never touch the network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from reproduce.errors import UserError

MIRROR_ENV = "REPRO_DATA_MIRROR"


def resolve_mirror(value: str | os.PathLike | None = None) -> Path | None:
    """The mirror folder: the explicit value first, then $REPRO_DATA_MIRROR; None if neither is set."""
    value = value or os.environ.get(MIRROR_ENV) or None
    if value is None:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise UserError(f"data mirror '{path}' is not a folder: fix paths.data_mirror or ${MIRROR_ENV}")
    return path


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fetch_from_mirror(mirror: str | os.PathLike | None, rel_path: str, dest_root: str | os.PathLike,
                      md5: str | None = None) -> Path | None:
    """Copy `rel_path` (a file or a folder) from the mirror into `dest_root`, keeping its relative path.

    Returns the destination, or None when there is no mirror or it lacks `rel_path`. An existing
    destination file with the right checksum is kept, so calling this twice is cheap. A mirror file
    whose md5 differs from `md5` is refused rather than silently copied.
    """
    mirror_path = resolve_mirror(mirror)
    if mirror_path is None or not (mirror_path / rel_path).exists():
        return None
    src, dest = mirror_path / rel_path, Path(dest_root) / rel_path
    if src.is_dir():
        for file in sorted(p for p in src.rglob("*") if p.is_file()):
            fetch_from_mirror(mirror_path, str(file.relative_to(mirror_path)), dest_root)
        return dest
    if dest.exists() and dest.stat().st_size == src.stat().st_size and (md5 is None or md5sum(dest) == md5):
        return dest
    if md5 is not None and md5sum(src) != md5:
        raise UserError(f"mirror file {src} fails its md5 check (expected {md5}): replace it with a clean copy")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    shutil.copyfile(src, tmp)  # copyfile, not copy2: the mirror is read-only and its modes must not follow
    os.replace(tmp, dest)  # atomic, so parallel sweep jobs never see half a file
    return dest
