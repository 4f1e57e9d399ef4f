"""One-line errors for bad overrides, before Hydra prints its multi-line report.

The overrides are composed once (the first point of any sweep) with Hydra's compose API, which
takes milliseconds; an unknown group option, an unknown key or a missing required group becomes one
sentence naming the fix.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from reproduce import CONF_DIR, register_resolvers

_FLAGS_WITH_VALUE = {"--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
                     "--experimental-rerun", "--info", "-i", "--package", "-p"}


def _first_point(args: list[str]) -> list[str] | None:
    """Overrides of the first job of a sweep; None when the command is not a plain run/sweep."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if any(a in ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion") for a in args):
        return None
    overrides = [text for _, text in _overrides(args)]
    parser = OverridesParser.create()
    point = []
    for override, text in zip(parser.parse_overrides(overrides), overrides):
        if override.is_sweep_override():
            first = next(iter(override.sweep_string_iterator()))
            point.append(f"{override.get_key_element()}={first}")
        else:
            point.append(text)
    return point


def _overrides(args: list[str]) -> list[tuple[int, str]]:
    """(position, text) of the Hydra overrides among the command-line arguments."""
    out, skip = [], False
    for i, arg in enumerate(args):
        if skip:
            skip = False
        elif arg in _FLAGS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            out.append((i, arg))
    return out


def expand_globs(args: list[str]) -> list[str]:
    """`group=glob(pattern)` spelled out as the explicit list of the options it matches.

    Hydra matches a glob against a group's direct options only, so `experiment=glob(drmad/*)`
    (options nested one folder down, as every paper's experiments are) would launch 0 jobs without
    a word. Matching against the nested names here makes it sweep what it says; a glob matching
    nothing is an error instead of an empty sweep.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import Glob

    args = list(args)
    positions = _overrides(args)
    parsed = OverridesParser.create().parse_overrides([text for _, text in positions])
    roots = [CONF_DIR]  # and any config folders added with hydra.searchpath=[file://...]
    for override in parsed:
        if override.get_key_element() == "hydra.searchpath" and isinstance(override.value(), list):
            roots += [Path(str(v)[len("file://"):]) for v in override.value() if str(v).startswith("file://")]
    for (i, text), override in zip(positions, parsed):
        value = override.value()
        if not isinstance(value, Glob):
            continue
        group = override.key_or_group
        names = sorted({p.relative_to(root / group).with_suffix("").as_posix()
                        for root in roots for p in (root / group).rglob("*.yaml")})
        if not names:  # not a config group: a glob over something else is Hydra's business
            continue
        matches = value.filter(names)
        if not matches:
            raise ValueError(f"{text} matches no option of conf/{group}/")
        args[i] = f"{override.get_key_element()}={','.join(matches)}"
    return args


def one_line(message: str) -> str:
    """Hydra's multi-line composition error as one sentence with the fix."""
    lines = [ln.strip() for ln in str(message).splitlines() if ln.strip()]
    head = lines[0] if lines else str(message)
    missing = re.search(r"Could not find '([^'/]+)/([^']+)'", head)
    if missing:
        group = missing.group(1)
        names = sorted(str(p.relative_to(CONF_DIR / group).with_suffix("")) for p in (CONF_DIR / group).rglob("*.yaml"))
        head = f"unknown {group} '{missing.group(2)}': choose {group}= one of {', '.join(names) or '(none yet)'}"
    elif "is not in struct" in head:
        full_key = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("full_key:")), "")
        head = f"unknown config key '{full_key}': check its spelling, or add a new key with +{full_key}=..."
    elif "Could not override" in head:
        head = head + " " + " ".join(lines[1:2])
    return head


def validate_overrides_or_exit(args: list[str]) -> list[str]:
    """Exit with one line if the overrides cannot compose; else the arguments to hand to Hydra
    (globs over nested options spelled out)."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from reproduce.errors import UserError
    from reproduce.train import check_choices

    try:
        args = expand_globs(args)
        point = _first_point(args)
    except Exception as err:  # a syntax error in an override
        print(f"error: cannot parse the overrides: {str(err).splitlines()[0]}", file=sys.stderr)
        sys.exit(2)
    if point is None:
        return args
    register_resolvers()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="train", overrides=point, return_hydra_config=True)
        check_choices(cfg)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except (HydraException, OmegaConfBaseException) as err:
        print(f"error: {one_line(str(err))}", file=sys.stderr)
        sys.exit(2)
    return args
