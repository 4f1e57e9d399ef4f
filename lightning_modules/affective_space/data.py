"""A proxy AffectNet built from public data: SenticNet 6 relations + WordNet-Affect 1.1 categories.

AffectNet (Cambria et al.) is a concept x feature matrix blending ConceptNet assertions with
WordNet-Affect; it is not public. This module builds the closest matrix from what is:

* SenticNet 6, as shipped by the PyPI package `senticnet==1.6`: the module `senticnet.senticnet6`
  holds one dict `senticnet` of 200,000 entries `concept -> [introspection, temper, attitude,
  sensitivity, primary_mood, secondary_mood, polarity_label, polarity_value, sem1..sem5]`, all
  strings, concepts spelt with underscores.
* WordNet-Affect 1.1 (`a-hierarchy.xml`): 306 affective categories (joy, wrath, apathy, ...) in an
  is-a hierarchy (joy -> positive-emotion -> emotion -> affective-state -> mental-state; six
  categories have two parents). Its synsets are WordNet 1.6 offsets with no lemmas, so only the
  category names can be matched to concepts.

Features (binary), in three column namespaces:
  rel:x    relatedness, one column per concept name x, reached three ways:
           - c lists x among its 5 semantically related concepts          (relations, 1,000,000)
           - x lists c: the reverse link, so ties count in both directions  (reverse_relations)
           - x = c: each concept carries its own column                   (self)
           The shared namespace is what makes linked concepts similar: c (which lists joy) and joy
           (which carries rel:joy itself) share a column, and so do two concepts listing the same x.
           Over the relatedness graph this is the adjacency A + A^T + I.
  word:w   w is a constituent word of c (multi-word concepts share words with their parts, which
           is how AffectiveSpace reaches multi-word concepts)
  wna:a    c, or one of its words, names a WordNet-Affect category whose ancestors include a
           (the category itself and every ancestor below the root)
The targets -- polarity label and value, the four sentic values and the two mood tags -- never
enter the matrix: they are returned separately and a test shuffles them to prove it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from reproduce.errors import UserError

CACHE_VERSION = 3
WNA_DIR = "wordnet-affect-1.1"
# The textagon copy fixes one typo ("simpathy"); the original is the fallback.
WNA_HIERARCHY_FILES = ("a-hierarchy.textagon-patched.xml", "a-hierarchy.xml")
SENTIC_NAMES = ("introspection", "temper", "attitude", "sensitivity")
FEATURE_GROUPS = ("relations", "reverse_relations", "self", "words", "wordnet_affect")
# feature-name prefix per column namespace; the three relation groups share one namespace
PREFIX = {"relations": "rel:", "reverse_relations": "rel:", "self": "rel:", "words": "word:",
          "wordnet_affect": "wna:"}


@dataclass
class SenticNetRecords:
    """SenticNet entries as arrays, in sorted concept order (row i of every array is concept i)."""

    concepts: np.ndarray  # str (n,)
    semantics: np.ndarray  # str (n, 5): related concepts (features)
    sentics: np.ndarray  # float32 (n, 4): targets
    moods: np.ndarray  # str (n, 2): primary, secondary mood tag without '#' (targets)
    polarity: np.ndarray  # int64 (n,): 1 positive, 0 negative (target)
    polarity_value: np.ndarray  # float32 (n,): in [-1, 1] (target)


def load_senticnet(source: str | os.PathLike | None = None) -> SenticNetRecords:
    """Read SenticNet from the installed package (source=None), or from a file in its format."""
    if source is None:
        try:
            table = importlib.import_module("senticnet.senticnet6").senticnet
        except ImportError as err:
            raise UserError("SenticNet 6 is missing: pip install senticnet==1.6") from err
    else:
        path = Path(source)
        if not path.is_file():
            raise UserError(f"SenticNet file {path} does not exist: fix dataset.senticnet_file or set it to null")
        spec = importlib.util.spec_from_file_location(f"_senticnet_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        table = module.senticnet
    concepts = np.array(sorted(table), dtype=str)
    rows = np.array([table[c] for c in concepts.tolist()], dtype=str)  # (n, 13), one C-level conversion
    if rows.ndim != 2 or rows.shape[1] != 13:
        raise UserError(f"SenticNet entries must have 13 fields, got shape {rows.shape}: is this SenticNet 6?")
    return SenticNetRecords(
        concepts=concepts,
        semantics=rows[:, 8:13],
        sentics=rows[:, 0:4].astype(np.float32),
        moods=np.char.lstrip(rows[:, 4:6], "#"),
        polarity=(rows[:, 6] == "positive").astype(np.int64),
        polarity_value=rows[:, 7].astype(np.float32),
    )


def parse_wordnet_affect(folder: str | os.PathLike) -> dict[str, list[str]]:
    """WordNet-Affect's category graph as {category: [parents]} (the root has none).

    Not a tree: six categories appear twice with different parents (surprise is-a ambiguous-emotion
    and is-a astonishment, which is-a surprise), so parents are lists and cycles are possible.
    """
    folder = Path(folder)
    for name in WNA_HIERARCHY_FILES:
        if (folder / name).is_file():
            root = ET.parse(folder / name).getroot()
            break
    else:
        raise UserError(f"no WordNet-Affect hierarchy ({' or '.join(WNA_HIERARCHY_FILES)}) in {folder}")
    graph: dict[str, list[str]] = {}
    for el in root.iter("categ"):
        parents = graph.setdefault(el.get("name"), [])
        if el.get("isa") is not None and el.get("isa") not in parents:
            parents.append(el.get("isa"))
    if not graph or any(p not in graph for parents in graph.values() for p in parents):
        raise UserError(f"{folder}: the WordNet-Affect hierarchy is empty or names an unknown parent")
    return graph


def ancestor_sets(graph: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each category with all its ancestors (sorted), roots excluded: a root would be a constant feature."""
    roots = {c for c, parents in graph.items() if not parents}
    out = {}
    for cat in graph:
        seen, stack = set(), [cat]
        while stack:  # graph walk with a visited set: the hierarchy has cycles
            node = stack.pop()
            if node in seen or node in roots:
                continue
            seen.add(node)
            stack.extend(graph[node])
        out[cat] = sorted(seen)
    return out


def _normalise(names: np.ndarray) -> np.ndarray:
    return np.char.replace(np.char.lower(names), "-", "_")


def _concept_words(concepts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, word) pairs for every underscore-separated word of every concept."""
    counts = np.char.count(concepts, "_") + 1
    words = np.array("_".join(concepts.tolist()).split("_"), dtype=str)
    rows = np.repeat(np.arange(len(concepts)), counts)
    keep = words != ""
    return rows[keep], words[keep]


@dataclass
class AffectNetProxy:
    matrix: sp.csr_matrix  # float32 binary, concepts x features
    concepts: np.ndarray
    feature_names: np.ndarray
    group_sizes: dict[str, int] = field(default_factory=dict)  # features per group
    group_nnz: dict[str, int] = field(default_factory=dict)

    def describe(self) -> dict:
        n, d = self.matrix.shape
        return {"concepts": n, "features": d, "nnz": int(self.matrix.nnz),
                "density": self.matrix.nnz / (n * d), "features_per_group": self.group_sizes,
                "nnz_per_group": self.group_nnz,
                "empty_rows": int(np.sum(np.diff(self.matrix.indptr) == 0))}


def build_affectnet_proxy(records: SenticNetRecords, wna_tree: dict[str, list[str]] | None,
                          groups: tuple[str, ...] = FEATURE_GROUPS, min_feature_count: int = 1) -> AffectNetProxy:
    """The binary concept x feature matrix; reads only concept names, relations and WordNet-Affect."""
    unknown = set(groups) - set(FEATURE_GROUPS)
    if unknown:
        raise UserError(f"unknown feature groups {sorted(unknown)}: choose from {list(FEATURE_GROUPS)}")
    concepts = records.concepts
    n = len(concepts)
    parts = []  # (group, rows, feature-name array)

    sem_rows = np.repeat(np.arange(n), records.semantics.shape[1])
    sem = records.semantics.ravel()
    valid = sem != ""
    sem_rows, sem = sem_rows[valid], sem[valid]
    # relations share one column per concept name ("rel:x"), whichever side of the link it is on
    if "relations" in groups:
        parts.append(("relations", sem_rows, sem))
    if "reverse_relations" in groups:
        pos = np.minimum(np.searchsorted(concepts, sem), n - 1)
        is_concept = concepts[pos] == sem
        parts.append(("reverse_relations", pos[is_concept], concepts[sem_rows[is_concept]]))
    if "self" in groups:
        parts.append(("self", np.arange(n), concepts))
    if "words" in groups or "wordnet_affect" in groups:
        word_rows, words = _concept_words(concepts)
    if "words" in groups:
        parts.append(("words", word_rows, words))
    if "wordnet_affect" in groups:
        if wna_tree is None:
            raise UserError("feature group 'wordnet_affect' needs the WordNet-Affect folder: "
                            "set paths.data_mirror (or REPRO_DATA_MIRROR), or drop the group")
        ancestors = ancestor_sets(wna_tree)
        cats = np.array(sorted(c for c in ancestors if ancestors[c]), dtype=str)
        cat_norm = _normalise(cats)
        order = np.argsort(cat_norm)
        # a concept matches by its whole name or by one of its words
        candidates = np.concatenate([concepts, words])
        rows = np.concatenate([np.arange(n), word_rows])
        pos = np.minimum(np.searchsorted(cat_norm[order], candidates), len(cats) - 1)
        hit = cat_norm[order][pos] == candidates
        hit_rows, hit_cats = rows[hit], cats[order][pos[hit]]
        # expand each matched category to its chain of ancestors (a few hundred categories: a lookup)
        chain_len = np.array([len(ancestors[c]) for c in hit_cats.tolist()], dtype=np.int64)
        chains = [a for c in hit_cats.tolist() for a in ancestors[c]]
        parts.append(("wordnet_affect", np.repeat(hit_rows, chain_len), np.array(chains, dtype=str)))

    if not parts:
        raise UserError("no feature groups selected: set dataset.feature_groups to some of " + str(list(FEATURE_GROUPS)))
    # one vocabulary per namespace, so a concept's self column and its link columns coincide
    namespaces = list(dict.fromkeys(PREFIX[g] for g, _, _ in parts))
    blocks, names, sizes, nnzs = [], [], {}, {}
    for prefix in namespaces:
        members = [(g, r, f) for g, r, f in parts if PREFIX[g] == prefix]
        vocab, cols = np.unique(np.concatenate([f for _, _, f in members]), return_inverse=True)
        rows = np.concatenate([r for _, r, _ in members])
        block = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols.ravel())), shape=(n, len(vocab)))
        block.sum_duplicates()
        block.data[:] = 1.0  # a feature reached twice (listed twice, or both link directions) counts once
        if min_feature_count > 1:
            keep = np.flatnonzero(np.diff(block.tocsc().indptr) >= min_feature_count)
            block, vocab = block[:, keep], vocab[keep]
        blocks.append(block)
        names.append(np.char.add(prefix, vocab.astype(str)))
        for g, r, _ in members:
            nnzs[g] = len(r)  # entries contributed before merging duplicates
        sizes[prefix.rstrip(":")] = len(vocab)
    matrix = sp.hstack(blocks, format="csr", dtype=np.float32)
    matrix.sort_indices()
    return AffectNetProxy(matrix, concepts, np.concatenate(names), sizes, nnzs)


def _blob(names: np.ndarray) -> np.ndarray:
    return np.frombuffer("\n".join(names.tolist()).encode(), dtype=np.uint8)


def _unblob(blob: np.ndarray) -> np.ndarray:
    text = blob.tobytes().decode()
    return np.array(text.split("\n") if text else [], dtype=str)


def _file_digest(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@dataclass
class AffectiveData:
    """What the module needs: the matrix, concept names and the (separately held) targets."""

    proxy: AffectNetProxy
    records: SenticNetRecords  # semantics is None when read from the cache: only the targets are kept
    moods: np.ndarray  # the mood vocabulary, sorted
    mood_ids: np.ndarray  # int64 (n, 2)
    wna_graph: dict[str, list[str]] | None = None


def _senticnet_id(senticnet_file: str | None) -> str:
    if senticnet_file is not None:
        return _file_digest(Path(senticnet_file))
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"senticnet=={version('senticnet')}"
    except PackageNotFoundError as err:
        raise UserError("SenticNet 6 is missing: pip install senticnet==1.6") from err


def _save(path: Path, data: AffectiveData, key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.npz")
    proxy, rec, m = data.proxy, data.records, data.proxy.matrix
    meta = json.dumps({"sizes": proxy.group_sizes, "nnz": proxy.group_nnz, "key": json.loads(key)})
    np.savez(tmp, data=m.data, indices=m.indices, indptr=m.indptr, shape=np.array(m.shape),
             concepts=_blob(proxy.concepts), features=_blob(proxy.feature_names),
             meta=np.frombuffer(meta.encode(), dtype=np.uint8), moods=_blob(data.moods),
             mood_ids=data.mood_ids, sentics=rec.sentics, polarity=rec.polarity, polarity_value=rec.polarity_value)
    os.replace(tmp, path)  # atomic: parallel sweep jobs never read half a cache file


def _load(path: Path, wna_graph) -> AffectiveData:
    with np.load(path) as z:
        matrix = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
        concepts = _unblob(z["concepts"])
        meta = json.loads(z["meta"].tobytes().decode())
        proxy = AffectNetProxy(matrix, concepts, _unblob(z["features"]), meta["sizes"], meta["nnz"])
        moods, mood_ids = _unblob(z["moods"]), z["mood_ids"]
        records = SenticNetRecords(concepts, None, z["sentics"], moods[mood_ids], z["polarity"], z["polarity_value"])
    return AffectiveData(proxy, records, moods, mood_ids, wna_graph)


def load_affective_data(cache_dir: str | os.PathLike | None, wna_folder: Path | None,
                        senticnet_file: str | None = None, groups: tuple[str, ...] = FEATURE_GROUPS,
                        min_feature_count: int = 1) -> AffectiveData:
    """Build the proxy matrix and targets, or read both from the cache (keyed by every input)."""
    wna_graph = parse_wordnet_affect(wna_folder) if wna_folder is not None else None
    wna_id = hashlib.md5(json.dumps(wna_graph, sort_keys=True).encode()).hexdigest() if wna_graph else None
    key = json.dumps({"v": CACHE_VERSION, "source": _senticnet_id(senticnet_file),
                      "wna": wna_id if "wordnet_affect" in groups else None, "groups": sorted(groups),
                      "min_count": min_feature_count}, sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    path = Path(cache_dir) / "affective_space" / f"affectnet_proxy-{digest}.npz" if cache_dir else None
    if path is not None and path.is_file():
        return _load(path, wna_graph)

    records = load_senticnet(senticnet_file)
    moods, mood_ids = np.unique(records.moods, return_inverse=True)
    mood_ids = mood_ids.reshape(records.moods.shape).astype(np.int64)
    proxy = build_affectnet_proxy(records, wna_graph, groups, min_feature_count)
    data = AffectiveData(proxy, records, moods, mood_ids, wna_graph)
    if path is not None:
        _save(path, data, key)
    return data
