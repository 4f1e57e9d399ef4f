"""LightningModule for AffectiveSpace 2: fit = build the space, validate = affective reasoning."""

from __future__ import annotations

import time
import warnings

import lightning as L
import numpy as np
import torch

from lightning_modules.affective_space.projections import METHODS, Space, build_space
from lightning_modules.affective_space.reasoning import jl_distortion, k_medoids, linear_probe, nearest, normalise, vote
from reproduce.errors import UserError

# The space has no trainable parameters and no optimizer; Lightning says so once per fit.
warnings.filterwarnings("ignore", message=r".*configure_optimizers` returned `None`")

DEFAULT_REASONING = {
    "knn_k": 10,
    "n_eval": 5000,  # held-out concepts scored (null: all of them)
    "n_probe_train": 20000,  # training concepts the linear probe fits on (null: all)
    "probe_max_iter": 100,  # L-BFGS iterations of the probe
    "n_cluster": 20000,  # concepts clustered by sentic medoids (null: all)
    "kmedoids_max_iter": 30,
    # concepts naming the emotion categories seed the medoids: "wordnet_affect" (every category under
    # 'emotion' that is also a concept), "moods" (SenticNet's 8 mood names) or a list of concepts
    "cluster_seeds": "wordnet_affect",
    "jl_pairs": 20000,
}


class AffectiveSpaceModule(L.LightningModule):
    def __init__(self, method: str = "rp", k: int = 100, seed: int = 0, distribution: str = "achlioptas",
                 density: float | None = None, block_features: int | None = None, svd_n_iter: int = 5,
                 svd_algorithm: str = "randomized", sklearn_density: float | str = "auto",
                 measure_memory: bool = True, reasoning: dict | None = None, hardware: str | None = None):
        super().__init__()
        if method not in METHODS:
            raise UserError(f"paper.module.method must be one of {list(METHODS)}, got {method!r}")
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.method, self.k, self.seed = method, int(k), int(seed)
        self.reasoning = {**DEFAULT_REASONING, **(reasoning or {})}
        self.space: Space | None = None
        self._summary: dict[str, float] = {}

    def configure_optimizers(self):
        return None

    # ---- fit: build the space ------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        if self.space is not None:
            return None
        data = self.trainer.datamodule.data
        hp = self.hparams
        self.space = build_space(data.proxy.matrix, self.method, self.k, self.seed, device=str(self.device),
                                 distribution=hp.distribution, density=hp.density,
                                 block_features=hp.block_features, svd_n_iter=hp.svd_n_iter,
                                 svd_algorithm=hp.svd_algorithm, sklearn_density=hp.sklearn_density,
                                 measure_memory=hp.measure_memory, threads=torch.get_num_threads())
        info = data.proxy.describe()
        self._summary = {"time/build_s": self.space.build_s, "mem/build_peak_mb": self.space.peak_mb,
                         "data/concepts": float(info["concepts"]), "data/features": float(info["features"]),
                         "data/nnz": float(info["nnz"])}
        self.log_dict(self._summary, on_step=False, on_epoch=True, batch_size=1)
        return None

    # ---- validate: the reasoning tasks -----------------------------------------------------------
    def validation_step(self, batch, batch_idx):
        if self.space is None:  # a sanity check before fit has no space to reason in
            return None
        start = time.perf_counter()
        metrics = self.evaluate()
        metrics["time/eval_s"] = time.perf_counter() - start
        self._summary.update(metrics)
        self.log_dict(metrics, on_step=False, on_epoch=True, batch_size=1)
        return None

    def evaluate(self) -> dict[str, float]:
        dm = self.trainer.datamodule
        return evaluate_space(self.space.vectors, dm.data, dm.train_idx, dm.test_idx, self.reasoning,
                              self.seed, self.k)

    def summary_metrics(self) -> dict[str, float]:
        return dict(self._summary)


def _subsample(idx: np.ndarray, n: int | None, rng: np.random.Generator) -> np.ndarray:
    if n is None or n >= len(idx):
        return idx
    return np.sort(rng.choice(idx, size=int(n), replace=False))


def evaluate_space(vectors, data, train_idx: np.ndarray, test_idx: np.ndarray, cfg: dict, seed: int,
                   k: int) -> dict[str, float]:
    """All reasoning metrics for one space. Accuracies in percent."""
    rng = np.random.default_rng(seed + 7919)  # its own stream: subsamples do not shift with the build
    x = vectors if isinstance(vectors, torch.Tensor) else torch.from_numpy(np.asarray(vectors))
    device = x.device
    xn = normalise(x.float())
    rec = data.records
    polarity = torch.from_numpy(rec.polarity).to(device)
    mood = torch.from_numpy(data.mood_ids[:, 0]).to(device)
    n_moods = len(data.moods)
    targets = torch.from_numpy(np.column_stack([rec.polarity_value, rec.sentics])).to(device)

    queries = _subsample(test_idx, cfg["n_eval"], rng)
    tr, te = torch.from_numpy(train_idx).to(device), torch.from_numpy(queries).to(device)
    out: dict[str, float] = {}
    chunk = max(1, (1 << 25) // max(1, len(train_idx)))  # ~128 MiB of similarities at a time
    sims, nbr = nearest(xn[tr], xn[te], cfg["knn_k"], chunk)
    nbr = tr[nbr]  # rows of the whole space
    pol_pred, mood_pred = vote(sims, polarity[nbr], 2), vote(sims, mood[nbr], n_moods)
    value_mean = targets[nbr].mean(1)
    pct = lambda a, b: 100.0 * float((a == b).float().mean())  # noqa: E731
    out["val/polarity_acc"] = pct(pol_pred, polarity[te])
    out["val/mood_acc"] = pct(mood_pred, mood[te])
    abs_err = (value_mean - targets[te]).abs().mean(0)
    out["val/polarity_value_mae"] = float(abs_err[0])
    out["val/sentic_mae"] = float(abs_err[1:].mean())
    # reference rates: predicting the training set's most frequent class
    out["val/polarity_majority"] = pct(torch.full_like(polarity[te], int(polarity[tr].mode().values)), polarity[te])
    out["val/mood_majority"] = pct(torch.full_like(mood[te], int(mood[tr].mode().values)), mood[te])

    probe_idx = torch.from_numpy(_subsample(train_idx, cfg["n_probe_train"], rng)).to(device)
    for name, labels, n_classes in (("polarity", polarity, 2), ("mood", mood, n_moods)):
        pred = linear_probe(xn[probe_idx], labels[probe_idx], xn[te], n_classes, cfg["probe_max_iter"])
        out[f"val/{name}_acc_probe"] = pct(pred, labels[te])

    out.update(_sentic_medoids(xn, data, train_idx, cfg, rng))
    out.update(jl_distortion(data.proxy.matrix, x.float(), cfg["jl_pairs"], seed))
    return out


def cluster_seed_concepts(data, spec) -> np.ndarray:
    """Concepts naming the emotion categories: WordNet-Affect's (everything under 'emotion'),
    SenticNet's mood names, or an explicit list; only those present in the space are kept."""
    if spec == "wordnet_affect" and data.wna_graph:
        from lightning_modules.affective_space.data import ancestor_sets

        ancestors = ancestor_sets(data.wna_graph)
        names = [c.lower().replace("-", "_") for c, a in ancestors.items() if "emotion" in a and c != "emotion"]
    elif spec in ("wordnet_affect", "moods"):
        names = data.moods.tolist()
    else:
        names = list(spec)
    names = np.unique(np.array(names, dtype=str))
    concepts = data.proxy.concepts
    pos = np.minimum(np.searchsorted(concepts, names), len(concepts) - 1)
    present = pos[concepts[pos] == names]
    if len(present) < 2:
        raise UserError(f"fewer than 2 cluster seed concepts found for {spec!r}: "
                        "set paper.module.reasoning.cluster_seeds to a list of concepts")
    return present


def neighbourhood_medoids(matrix, feature_names: np.ndarray, concepts: np.ndarray, seeds: np.ndarray,
                          xn: torch.Tensor) -> np.ndarray:
    """Move each seed concept to the medoid of the concepts related to it (rows of its rel: column).

    Seed concepts such as 'joy' are hubs with hundreds of features; in a random projection their
    cosine to any single concept is below the projection noise (1/sqrt(k)), so a hub seed would gather
    a cluster by noise. The medoid of its relational neighbourhood is a typical concept instead.
    """
    order = np.argsort(feature_names)
    wanted = np.char.add("rel:", concepts[seeds])
    pos = np.minimum(np.searchsorted(feature_names[order], wanted), len(order) - 1)
    found = feature_names[order][pos] == wanted
    out = seeds.copy()
    if not found.any():
        return out
    sub = matrix.tocsc()[:, order[pos[found]]].tocoo()
    rows = torch.from_numpy(sub.row.astype(np.int64)).to(xn.device)
    cols = torch.from_numpy(sub.col.astype(np.int64)).to(xn.device)
    m = int(found.sum())
    sums = torch.zeros(m, xn.shape[1], device=xn.device, dtype=xn.dtype).index_add_(0, cols, xn[rows])
    score = (xn[rows] * sums[cols]).sum(1)
    best = torch.full((m,), -torch.inf, device=xn.device, dtype=xn.dtype).scatter_reduce(0, cols, score, "amax")
    hit = score >= best[cols]
    big = torch.full((m,), len(concepts), device=xn.device, dtype=torch.long)
    medoid = big.scatter_reduce(0, cols[hit], rows[hit], "amin")
    out[found] = medoid.cpu().numpy()
    return out


def _cluster_then_label(assign: np.ndarray, labels: np.ndarray, is_train: np.ndarray, n_clusters: int) -> float:
    """Accuracy on held-out members when each cluster predicts its training members' majority label."""
    n_classes = int(labels.max()) + 1
    table = np.zeros((n_clusters, n_classes))
    np.add.at(table, (assign[is_train], labels[is_train]), 1)
    majority = np.bincount(labels[is_train], minlength=n_classes).argmax()
    cluster_label = np.where(table.sum(1) > 0, table.argmax(1), majority)
    return 100.0 * float(np.mean(cluster_label[assign[~is_train]] == labels[~is_train]))


def _sentic_medoids(xn: torch.Tensor, data, train_idx: np.ndarray, cfg: dict,
                    rng: np.random.Generator) -> dict[str, float]:
    """k-medoids seeded from the emotion categories; each cluster is read as its majority mood."""
    proxy = data.proxy
    seeds = cluster_seed_concepts(data, cfg["cluster_seeds"])
    init = np.unique(neighbourhood_medoids(proxy.matrix, proxy.feature_names, proxy.concepts, seeds, xn))
    others = np.setdiff1d(np.arange(len(proxy.concepts)), init)
    members = np.concatenate([init, _subsample(others, cfg["n_cluster"], rng)])
    idx = torch.from_numpy(members).to(xn.device)
    assign, _, n_iter = k_medoids(xn[idx], torch.arange(len(init), device=xn.device), cfg["kmedoids_max_iter"])
    assign = assign.cpu().numpy()
    is_train = np.isin(members, train_idx)
    from sklearn.metrics import normalized_mutual_info_score

    mood = data.mood_ids[members, 0]
    return {"val/cluster_mood_acc": _cluster_then_label(assign, mood, is_train, len(init)),
            "val/cluster_polarity_acc": _cluster_then_label(assign, data.records.polarity[members], is_train, len(init)),
            "val/cluster_nmi": float(normalized_mutual_info_score(mood, assign)),
            "val/clusters": float(len(init)), "val/cluster_iters": float(n_iter)}
