"""TSPLIB95 instances: parsing through the `tsplib95` package, distances by TSPLIB's own rules.

Why both: `tsplib95` (0.7.1) reads every field of the format correctly, but two of its distance
paths disagree with TSPLIB and therefore with the published optimal lengths:
  * EXPLICIT matrices of files without coordinates or display data are indexed from node 0 while
    TSPLIB numbers nodes from 1 (fri26, gr24, gr48, brg180 ... either fail or give wrong lengths);
  * GEO uses `math.radians` (exact pi) where TSPLIB fixes PI = 3.141592.
So the package parses and this module turns its fields into distances, vectorised over index pairs
(so a 33,810-city tour can be measured without an n x n matrix). The rules, from the TSPLIB95
documentation (Reinelt 1995, section 2) with nint(x) = (int)(x + 0.5):
  EUC_2D/EUC_3D  nint(sqrt(dx^2 + dy^2 [+ dz^2]))      CEIL_2D  ceil(sqrt(...))
  MAN_2D/MAN_3D  nint(|dx| + |dy| [+ |dz|])             MAX_2D/MAX_3D  max(nint(|dx|), nint(|dy|) ...)
  ATT            r = sqrt((dx^2 + dy^2) / 10); t = nint(r); t + 1 if t < r else t
  GEO            degrees.minutes -> radians with PI = 3.141592 and deg = (int) x (as Concorde does);
                 d = (int)(6378.388 * acos(0.5((1 + q1) q2 - (1 - q1) q3)) + 1)
  EXPLICIT       FULL_MATRIX, UPPER_ROW, LOWER_ROW, UPPER_DIAG_ROW, LOWER_DIAG_ROW and the *_COL forms.
Every `.opt.tour` shipped in the package (and, in the `data` test tier, all 33 of the mirror)
reproduces its optimal length from `bestSolutions.txt` with these rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reproduce.errors import UserError

INSTANCE_DIR = Path(__file__).resolve().parent / "instances"
EMBEDDED = ("eil51", "berlin52", "kroA100", "ch150", "a280", "lin318")
COORD_TYPES = ("EUC_2D", "EUC_3D", "CEIL_2D", "MAN_2D", "MAN_3D", "MAX_2D", "MAX_3D", "ATT", "GEO")
MATRIX_FORMATS = ("FULL_MATRIX", "UPPER_ROW", "LOWER_ROW", "UPPER_DIAG_ROW", "LOWER_DIAG_ROW",
                  "UPPER_COL", "LOWER_COL", "UPPER_DIAG_COL", "LOWER_DIAG_COL")
# A dense int32 matrix of this many cities takes 1.6 GB; larger instances need candidate lists,
# which this reproduction (full-row selection, as the paper) does not implement.
MAX_DENSE_CITIES = 20_000

_GEO_PI = 3.141592
_GEO_RADIUS = 6378.388


def _nint(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5).astype(np.int64)


def _geo_radians(x: np.ndarray) -> np.ndarray:
    deg = np.trunc(x)
    return _GEO_PI * (deg + 5.0 * (x - deg) / 3.0) / 180.0


def coordinate_distances(kind: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TSPLIB distance between coordinate rows a[k] and b[k] (float64 [K, dim]) -> int64 [K]."""
    delta = a - b
    if kind in ("EUC_2D", "EUC_3D"):
        return _nint(np.sqrt((delta * delta).sum(-1)))
    if kind == "CEIL_2D":
        return np.ceil(np.sqrt((delta * delta).sum(-1))).astype(np.int64)
    if kind in ("MAN_2D", "MAN_3D"):
        return _nint(np.abs(delta).sum(-1))
    if kind in ("MAX_2D", "MAX_3D"):
        return _nint(np.abs(delta)).max(-1)
    if kind == "ATT":
        r = np.sqrt((delta * delta).sum(-1) / 10.0)
        t = _nint(r)
        return np.where(t < r, t + 1, t)
    if kind == "GEO":
        lat_a, lon_a = _geo_radians(a[..., 0]), _geo_radians(a[..., 1])
        lat_b, lon_b = _geo_radians(b[..., 0]), _geo_radians(b[..., 1])
        q1, q2, q3 = np.cos(lon_a - lon_b), np.cos(lat_a - lat_b), np.cos(lat_a + lat_b)
        arg = np.clip(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3), -1.0, 1.0)
        d = (_GEO_RADIUS * np.arccos(arg) + 1.0).astype(np.int64)
        return np.where((delta == 0).all(-1), 0, d)  # TSPLIB's formula gives 1 for a city to itself
    raise UserError(f"EDGE_WEIGHT_TYPE {kind} is not supported: use one of {', '.join(COORD_TYPES)} or EXPLICIT")


def explicit_matrix(fmt: str, numbers: np.ndarray, n: int) -> np.ndarray:
    """Symmetric int64 [n, n] matrix from the flat EDGE_WEIGHT_SECTION numbers in format `fmt`."""
    # Column-major forms of a symmetric matrix list the same numbers as the opposite row-major form.
    fmt = {"UPPER_COL": "LOWER_ROW", "LOWER_COL": "UPPER_ROW",
           "UPPER_DIAG_COL": "LOWER_DIAG_ROW", "LOWER_DIAG_COL": "UPPER_DIAG_ROW"}.get(fmt, fmt)
    expected = {"FULL_MATRIX": n * n, "UPPER_ROW": n * (n - 1) // 2, "LOWER_ROW": n * (n - 1) // 2,
                "UPPER_DIAG_ROW": n * (n + 1) // 2, "LOWER_DIAG_ROW": n * (n + 1) // 2}
    if fmt not in expected:
        raise UserError(f"EDGE_WEIGHT_FORMAT {fmt} is not supported: use one of {', '.join(MATRIX_FORMATS)}")
    if numbers.size != expected[fmt]:
        raise UserError(f"EDGE_WEIGHT_SECTION has {numbers.size} numbers but {fmt} with DIMENSION {n} "
                        f"needs {expected[fmt]}")
    if fmt == "FULL_MATRIX":
        return numbers.reshape(n, n).astype(np.int64)
    rows, cols = {"UPPER_ROW": np.triu_indices(n, 1), "LOWER_ROW": np.tril_indices(n, -1),
                  "UPPER_DIAG_ROW": np.triu_indices(n, 0), "LOWER_DIAG_ROW": np.tril_indices(n, 0)}[fmt]
    out = np.zeros((n, n), np.int64)
    out[rows, cols] = numbers  # triu/tril_indices enumerate row by row, as the file does
    out[cols, rows] = numbers
    return out


@dataclass
class TSPInstance:
    """One symmetric TSP: coordinates (with a distance rule) or an explicit matrix; cities are 0-based."""

    name: str
    n: int
    edge_weight_type: str
    coords: np.ndarray | None = None  # float64 [n, dim]
    weights: np.ndarray | None = None  # int64 [n, n] for EXPLICIT
    optimum: int | None = None
    source: str = ""
    _dense: np.ndarray | None = field(default=None, repr=False)

    def pair_distances(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        i, j = np.asarray(i), np.asarray(j)
        if self.weights is not None:
            return self.weights[i, j]
        return coordinate_distances(self.edge_weight_type, self.coords[i], self.coords[j])

    def tour_length(self, tour) -> int:
        tour = np.asarray(tour, dtype=np.int64)
        if sorted(tour.tolist()) != list(range(self.n)):
            raise ValueError(f"not a permutation of the {self.n} cities of {self.name}")
        return int(self.pair_distances(tour, np.roll(tour, -1)).sum())

    def distance_matrix(self) -> np.ndarray:
        """Dense int32 [n, n] distances (zero diagonal), built once in row blocks and cached."""
        if self._dense is None:
            if self.n > MAX_DENSE_CITIES:
                raise UserError(f"{self.name} has {self.n} cities; dense full-row ACO is limited to "
                                f"{MAX_DENSE_CITIES}: pick a smaller instance")
            if self.weights is not None:
                dense = self.weights
            else:
                dense = np.empty((self.n, self.n), np.int64)
                block = max(1, 4_000_000 // self.n)
                cols = np.arange(self.n)
                for start in range(0, self.n, block):
                    rows = np.arange(start, min(self.n, start + block))
                    dense[rows] = self.pair_distances(rows[:, None], cols[None, :])
            np.fill_diagonal(dense := dense.copy(), 0)
            if dense.max() >= 2**31:
                raise UserError(f"{self.name}: distances exceed int32; this instance is not supported")
            self._dense = dense.astype(np.int32)
        return self._dense


# ----------------------------------------------------------------------------------------------
# Reading files


_SECTION_RE = re.compile(r"^\s*([A-Z_]+_SECTION)\s*:?\s*$")
_KEY_RE = re.compile(r"^\s*([A-Z_]+)\s*:")
_KNOWN_KEYS = {"NAME", "TYPE", "COMMENT", "DIMENSION", "CAPACITY", "EDGE_WEIGHT_TYPE", "EDGE_WEIGHT_FORMAT",
               "EDGE_DATA_FORMAT", "NODE_COORD_TYPE", "DISPLAY_DATA_TYPE", "EOF"}


def locate_format_error(text: str) -> tuple[int, str] | None:
    """(line number, reason) of the first line that breaks the TSPLIB layout, or None.

    Only used to name the line when the parser refuses a file (its own messages name a field, not
    a line). Checks: known header keys, numeric entries, and the width of coordinate rows.
    """
    section, width = None, None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line == "EOF":
            return None
        if m := _SECTION_RE.match(line):
            section, width = m.group(1), None
            continue
        if m := _KEY_RE.match(line):
            if m.group(1) not in _KNOWN_KEYS:
                return lineno, f"unknown header line '{line[:60]}'"
            section = None
            continue
        if section is None:
            return lineno, f"'{line[:60]}' is neither a 'KEY : value' line nor inside a section"
        tokens = line.split()
        for tok in tokens:
            try:
                float(tok)
            except ValueError:
                return lineno, f"'{tok}' is not a number in {section}"
        if section in ("NODE_COORD_SECTION", "DISPLAY_DATA_SECTION"):
            width = width or len(tokens)
            if len(tokens) != width or width not in (3, 4):
                return lineno, f"{section} rows need an index and 2 or 3 coordinates, got {len(tokens)} numbers"
    return None


def _fail(path: Path, text: str, reason: str, at: str | None = None) -> UserError:
    """UserError naming the offending line: the first layout break, else the line starting with `at`."""
    where = locate_format_error(text)
    if where is not None:
        return UserError(f"{path}, line {where[0]}: {where[1]}")
    if at is not None:
        for lineno, raw in enumerate(text.splitlines(), start=1):
            if raw.strip().startswith(at):
                return UserError(f"{path}, line {lineno}: {reason}")
    return UserError(f"{path}: {reason}")


def read_tsp(path: str | Path, optimum: int | None = None) -> TSPInstance:
    """Parse a symmetric TSPLIB `.tsp` file; a malformed or unsupported one raises UserError naming it."""
    import tsplib95  # late: the GPU check machine runs without it

    path = Path(path)
    text = path.read_text()
    try:
        problem = tsplib95.parse(text)
    except Exception as err:  # tsplib95 raises ParsingError, KeyError, ValueError ... on bad input
        raise _fail(path, text, f"cannot be parsed ({type(err).__name__}: {err})") from None
    if problem.type not in ("TSP", None) and not str(problem.type).startswith("TSP"):
        raise UserError(f"{path}: TYPE {problem.type} is not a symmetric TSP")
    n, kind = problem.dimension, problem.edge_weight_type
    if not n or n < 3:
        raise _fail(path, text, f"DIMENSION must be at least 3, got {n}", at="DIMENSION")
    name = problem.name.strip() if problem.name else path.name.split(".")[0]
    if kind == "EXPLICIT":
        numbers = np.fromiter((w for row in problem.edge_weights for w in row), dtype=np.float64)
        if not np.all(numbers == np.round(numbers)):
            raise _fail(path, text, "EDGE_WEIGHT_SECTION holds non-integer weights", at="EDGE_WEIGHT_SECTION")
        try:
            weights = explicit_matrix(str(problem.edge_weight_format), numbers.astype(np.int64), n)
        except UserError as err:
            raise _fail(path, text, str(err), at="EDGE_WEIGHT_SECTION") from None
        return TSPInstance(name, n, kind, weights=weights, optimum=optimum, source=str(path))
    if kind not in COORD_TYPES:
        raise UserError(f"{path}: EDGE_WEIGHT_TYPE {kind} is not supported: use one of "
                        f"{', '.join(COORD_TYPES)} or EXPLICIT")
    nodes = problem.node_coords
    if sorted(nodes) != list(range(1, n + 1)):
        raise _fail(path, text, f"NODE_COORD_SECTION must list nodes 1..{n} (DIMENSION) once each, "
                    f"found {len(nodes)} entries", at="NODE_COORD_SECTION")
    dim = 3 if kind.endswith("_3D") else 2
    coords = np.array([nodes[i] for i in range(1, n + 1)], dtype=object)
    if any(len(c) != dim for c in coords):
        raise _fail(path, text, f"{kind} needs {dim} coordinates per node", at="NODE_COORD_SECTION")
    coords = np.array([list(c) for c in coords], dtype=np.float64)
    return TSPInstance(name, n, kind, coords=coords, optimum=optimum, source=str(path))


def read_tour(path: str | Path) -> np.ndarray:
    """First tour of a TSPLIB `.tour` file as 0-based city indices (int64)."""
    tours = []
    in_section = False
    current: list[int] = []
    for lineno, raw in enumerate(Path(path).read_text().splitlines(), start=1):
        line = raw.strip()
        if line.startswith("TOUR_SECTION"):
            in_section = True
            continue
        if not in_section or not line:
            continue
        if line == "EOF":
            break
        for tok in line.split():
            try:
                city = int(tok)
            except ValueError:
                raise UserError(f"{path}, line {lineno}: '{tok}' is not a city number") from None
            if city == -1:
                tours.append(current)
                current = []
            else:
                current.append(city - 1)
    if current:
        tours.append(current)
    if not tours:
        raise UserError(f"{path}: no TOUR_SECTION")
    return np.asarray(tours[0], dtype=np.int64)


def read_optima(path: str | Path) -> dict[str, int]:
    """`name : length` lines of TSPLIB's bestSolutions.txt."""
    out = {}
    for lineno, raw in enumerate(Path(path).read_text().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            key, value = raw.split(":", 1)
            out[key.strip()] = int(value.split()[0])
        except (ValueError, IndexError):
            raise UserError(f"{path}, line {lineno}: expected 'name : length', got '{raw.strip()}'") from None
    return out


def _mirror_dir(mirror) -> Path | None:
    from lightning_modules.data.mirror import resolve_mirror

    root = resolve_mirror(mirror)
    return None if root is None else root / "tsplib"


def load_instance(instance: str, mirror=None, data_dir: str | Path | None = None) -> TSPInstance:
    """An instance by name (embedded, else `<mirror>/tsplib/<name>.tsp`, copied to data_dir) or by path.

    Its optimum comes from the bestSolutions.txt beside the file, else the embedded table.
    """
    optima = read_optima(INSTANCE_DIR / "bestSolutions.txt")
    path = Path(str(instance)).expanduser()
    if path.suffix == ".tsp" or path.exists():
        if not path.is_file():
            raise UserError(f"instance file {path} does not exist: give an existing .tsp path or an instance name")
        beside = path.parent / "bestSolutions.txt"
        if beside.is_file():
            optima = {**optima, **read_optima(beside)}
        name = path.name.removesuffix(".tsp")
        return read_tsp(path, optimum=optima.get(name))
    name = str(instance)
    if (INSTANCE_DIR / f"{name}.tsp").is_file():
        return read_tsp(INSTANCE_DIR / f"{name}.tsp", optimum=optima.get(name))
    mirror_dir = _mirror_dir(mirror)
    if mirror_dir is not None and (mirror_dir / f"{name}.tsp").is_file():
        src = mirror_dir / f"{name}.tsp"
        if data_dir is not None:
            from lightning_modules.data.mirror import fetch_from_mirror

            src = fetch_from_mirror(mirror_dir.parent, f"tsplib/{name}.tsp", data_dir) or src
        if (mirror_dir / "bestSolutions.txt").is_file():
            optima = {**optima, **read_optima(mirror_dir / "bestSolutions.txt")}
        return read_tsp(src, optimum=optima.get(name))
    hint = "set paths.data_mirror (or $REPRO_DATA_MIRROR) to a folder with tsplib/" if mirror_dir is None \
        else f"{mirror_dir} has no {name}.tsp"
    raise UserError(f"unknown TSPLIB instance '{name}': embedded ones are {', '.join(EMBEDDED)}; "
                    f"for others give a .tsp path or {hint}")


def random_euclidean(n: int, seed: int = 0, scale: float = 1000.0, name: str | None = None) -> TSPInstance:
    """Uniform random EUC_2D cities: tests and benchmarks that must run without tsplib95 or files."""
    coords = np.random.default_rng(seed).uniform(0.0, scale, size=(n, 2)).round(3)
    return TSPInstance(name or f"rand{n}", n, "EUC_2D", coords=coords)
