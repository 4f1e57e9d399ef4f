"""TSPLIB reading: distance rules against optimal tours and tsplib95, explicit formats, clear errors."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from lightning_modules.parallel_aco import tsplib
from lightning_modules.parallel_aco.tsplib import (INSTANCE_DIR, explicit_matrix, load_instance, read_optima,
                                                    read_tour, read_tsp)
from reproduce.errors import UserError

pytest.importorskip("tsplib95")


def _write_coords(path: Path, kind: str, coords: np.ndarray) -> Path:
    lines = [f"NAME : {path.stem}", "TYPE : TSP", f"DIMENSION : {len(coords)}", f"EDGE_WEIGHT_TYPE : {kind}",
             "NODE_COORD_SECTION"]
    lines += [f"{i + 1} " + " ".join(repr(float(c)) for c in row) for i, row in enumerate(coords)]
    path.write_text("\n".join(lines + ["EOF", ""]))
    return path


@pytest.mark.parametrize("name", [p.name.removesuffix(".opt.tour") for p in sorted(INSTANCE_DIR.glob("*.opt.tour"))])
def test_shipped_optimal_tours_have_the_optimal_length(name):
    optima = read_optima(INSTANCE_DIR / "bestSolutions.txt")
    instance = read_tsp(INSTANCE_DIR / f"{name}.tsp")
    tour = read_tour(INSTANCE_DIR / f"{name}.opt.tour")
    assert instance.tour_length(tour) == optima[name]
    D = instance.distance_matrix()
    assert int(D[tour, np.roll(tour, -1)].sum()) == optima[name]  # the dense matrix agrees
    assert (D == D.T).all() and (np.diag(D) == 0).all()


def test_every_embedded_instance_loads_with_its_optimum():
    for name in tsplib.EMBEDDED:
        instance = load_instance(name)
        assert instance.n == int(re.findall(r"\d+", name)[-1])
        assert instance.optimum is not None and instance.optimum > 0


@pytest.mark.parametrize("kind", ["EUC_2D", "CEIL_2D", "ATT", "MAN_2D", "MAX_2D", "EUC_3D"])
def test_coordinate_rules_match_tsplib95_where_it_is_correct(tmp_path, kind):
    import tsplib95

    rng = np.random.default_rng(1)
    dim = 3 if kind.endswith("3D") else 2
    coords = np.round(rng.uniform(0, 5000, size=(40, dim)), 2)
    path = _write_coords(tmp_path / "t.tsp", kind, coords)
    ours = read_tsp(path).distance_matrix()
    reference = tsplib95.load(path)
    theirs = np.array([[reference.get_weight(i, j) if i != j else 0 for j in range(1, 41)] for i in range(1, 41)])
    assert (ours == theirs).all()


def _geo_reference(a, b):
    """TSPLIB95 documentation, section 2.4, literally (PI = 3.141592, deg = (int) x)."""
    def rad(x):
        deg = int(x)
        return 3.141592 * (deg + 5.0 * (x - deg) / 3.0) / 180.0
    q1 = math.cos(rad(a[1]) - rad(b[1]))
    q2 = math.cos(rad(a[0]) - rad(b[0]))
    q3 = math.cos(rad(a[0]) + rad(b[0]))
    return int(6378.388 * math.acos(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3)) + 1.0)


def test_geo_rule_follows_the_tsplib_document(tmp_path):
    rng = np.random.default_rng(2)
    coords = np.round(np.column_stack([rng.uniform(-80, 80, 60), rng.uniform(-179, 179, 60)]), 2)
    D = read_tsp(_write_coords(tmp_path / "g.tsp", "GEO", coords)).distance_matrix()
    for i in range(60):
        for j in range(60):
            if i != j:
                assert D[i, j] == _geo_reference(coords[i], coords[j])


def _explicit_numbers(M: np.ndarray, fmt: str) -> list[int]:
    n = len(M)
    rows = {"FULL_MATRIX": [(i, j) for i in range(n) for j in range(n)],
            "UPPER_ROW": [(i, j) for i in range(n) for j in range(i + 1, n)],
            "LOWER_ROW": [(i, j) for i in range(n) for j in range(i)],
            "UPPER_DIAG_ROW": [(i, j) for i in range(n) for j in range(i, n)],
            "LOWER_DIAG_ROW": [(i, j) for i in range(n) for j in range(i + 1)],
            "UPPER_COL": [(i, j) for j in range(n) for i in range(j)],
            "LOWER_COL": [(i, j) for j in range(n) for i in range(j + 1, n)],
            "UPPER_DIAG_COL": [(i, j) for j in range(n) for i in range(j + 1)],
            "LOWER_DIAG_COL": [(i, j) for j in range(n) for i in range(j, n)]}[fmt]
    return [int(M[i, j]) for i, j in rows]


@pytest.mark.parametrize("fmt", tsplib.MATRIX_FORMATS)
def test_explicit_formats_rebuild_the_matrix(tmp_path, fmt):
    rng = np.random.default_rng(3)
    n = 7
    M = rng.integers(1, 999, size=(n, n))
    M = np.triu(M, 1) + np.triu(M, 1).T
    numbers = _explicit_numbers(M, fmt)
    assert (explicit_matrix(fmt, np.array(numbers), n) == M).all()
    text = ["NAME : e", "TYPE : TSP", f"DIMENSION : {n}", "EDGE_WEIGHT_TYPE : EXPLICIT", f"EDGE_WEIGHT_FORMAT : {fmt}",
            "EDGE_WEIGHT_SECTION"] + [" ".join(map(str, numbers[k:k + 5])) for k in range(0, len(numbers), 5)] + ["EOF"]
    (tmp_path / "e.tsp").write_text("\n".join(text) + "\n")
    assert (read_tsp(tmp_path / "e.tsp").distance_matrix() == M).all()


GOOD = ["NAME: x", "TYPE: TSP", "DIMENSION: 3", "EDGE_WEIGHT_TYPE: EUC_2D", "NODE_COORD_SECTION",
        "1 0 0", "2 3 4", "3 1 1", "EOF"]


@pytest.mark.parametrize("edit, line, words", [
    ({6: "2 3 abc"}, 7, "'abc' is not a number"),
    ({3: "EDGE_WEIGHT_TYPE: EUC_2D\nFOO: 3"}, 5, "unknown header line"),
    ({2: "DIMENSION: 4"}, 5, "nodes 1..4"),
    ({6: "2 3 4 5 6"}, 7, "2 or 3 coordinates"),
    ({3: "EDGE_WEIGHT_TYPE: EUC_3D"}, 5, "needs 3 coordinates"),
])
def test_malformed_files_name_the_line(tmp_path, edit, line, words):
    lines = list(GOOD)
    for k, text in edit.items():
        lines[k] = text
    path = tmp_path / "bad.tsp"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=rf"line {line}: .*{words}"):
        read_tsp(path)


def test_short_explicit_section_and_unsupported_type_are_clear(tmp_path):
    path = tmp_path / "short.tsp"
    path.write_text("NAME: s\nTYPE: TSP\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: EXPLICIT\nEDGE_WEIGHT_FORMAT: UPPER_ROW\n"
                    "EDGE_WEIGHT_SECTION\n1 2\nEOF\n")
    with pytest.raises(UserError, match=r"line 6: .*2 numbers but UPPER_ROW with DIMENSION 3 needs 3"):
        read_tsp(path)
    path.write_text("NAME: s\nTYPE: TSP\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: XRAY1\nNODE_COORD_SECTION\n"
                    "1 0 0 0\n2 1 1 1\n3 2 2 2\nEOF\n")
    with pytest.raises(UserError, match="XRAY1 is not supported"):
        read_tsp(path)


def test_instances_come_from_a_path_or_the_mirror(tmp_path):
    src = INSTANCE_DIR / "eil51.tsp"
    own = tmp_path / "own" / "mine.tsp"
    own.parent.mkdir()
    own.write_text(src.read_text())
    (own.parent / "bestSolutions.txt").write_text("mine : 999\n")
    assert load_instance(str(own)).optimum == 999
    mirror = tmp_path / "mirror" / "tsplib"
    mirror.mkdir(parents=True)
    (mirror / "other51.tsp").write_text(src.read_text())
    (mirror / "bestSolutions.txt").write_text("other51 : 426\n")
    loaded = load_instance("other51", mirror=str(tmp_path / "mirror"), data_dir=tmp_path / "data")
    assert loaded.optimum == 426 and (tmp_path / "data" / "tsplib" / "other51.tsp").is_file()
    with pytest.raises(UserError, match="unknown TSPLIB instance 'nope'"):
        load_instance("nope", mirror=str(tmp_path / "mirror"))
    with pytest.raises(UserError, match="does not exist"):
        load_instance(str(tmp_path / "missing.tsp"))


@pytest.mark.data
def test_all_optimal_tours_of_the_mirror(data_mirror):
    folder = Path(data_mirror) / "tsplib"
    optima = read_optima(folder / "bestSolutions.txt")
    tours = sorted(folder.glob("*.opt.tour"))
    assert len(tours) == 33
    for tour_path in tours:
        name = tour_path.name.removesuffix(".opt.tour")
        assert read_tsp(folder / f"{name}.tsp").tour_length(read_tour(tour_path)) == optima[name], name
