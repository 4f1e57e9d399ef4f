"""Affective reasoning in the space: what AffectiveSpace is for.

* polarity of held-out concepts: k nearest neighbours by cosine (affective intuition: a concept feels
  like its neighbours) and a linear probe (logistic regression);
* mood-tag (emotion) classification, the same two ways, on SenticNet's primary mood tag;
* sentic medoids: k-medoids seeded with the concepts that name the emotion categories, each cluster
  labelled by its seed's emotion (and that emotion's polarity on the Hourglass);
* JL distortion: ratio of squared distances after / before projection on random concept pairs.

Everything is vectorised in torch and runs on the space's device. Targets are only read here, for
the training rows (neighbour votes, probe fit) and for scoring the held-out rows.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


def normalise(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


@torch.no_grad()
def nearest(train: torch.Tensor, queries: torch.Tensor, k: int = 10, chunk: int = 2048):
    """Cosine similarities and indices of the k most similar training rows (inputs L2-normalised)."""
    sims, idx = [], []
    for q0 in range(0, queries.shape[0], chunk):
        s, i = (queries[q0:q0 + chunk] @ train.T).topk(k, dim=1)
        sims.append(s)
        idx.append(i)
    return torch.cat(sims), torch.cat(idx)


def vote(sims: torch.Tensor, neighbour_labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Similarity-weighted majority vote; the epsilon lets all-zero similarities still vote."""
    votes = torch.zeros(sims.shape[0], n_classes, device=sims.device, dtype=sims.dtype)
    votes.scatter_add_(1, neighbour_labels, sims.clamp_min(0) + 1e-6)
    return votes.argmax(1)


def linear_probe(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, n_classes: int,
                 max_iter: int = 100, c: float = 1.0) -> torch.Tensor:
    """Multinomial logistic regression (full-batch L-BFGS) on standardised coordinates; test predictions.

    The objective is scikit-learn's with C = c (sum of cross-entropies + |W|^2 / 2C), written in torch so
    it runs on the space's device; standardising matters for SVD coordinates, whose scales span orders
    of magnitude and leave the unstandardised problem badly conditioned.
    """
    mean, std = x_train.mean(0), x_train.std(0).clamp_min(1e-8)
    xs, xt = (x_train - mean) / std, (x_test - mean) / std
    weight = torch.zeros(xs.shape[1], n_classes, device=xs.device, dtype=xs.dtype, requires_grad=True)
    bias = torch.zeros(n_classes, device=xs.device, dtype=xs.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-7, tolerance_change=1e-10)
    n = xs.shape[0]

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xs @ weight + bias, y_train) + (weight**2).sum() / (2 * c * n)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        return (xt @ weight + bias).argmax(1)


@torch.no_grad()
def k_medoids(x: torch.Tensor, init: torch.Tensor, max_iter: int = 30):
    """Alternating k-medoids under cosine distance on L2-normalised rows.

    The medoid of a cluster C minimises sum_j (1 - x_i.x_j) over i in C, i.e. maximises x_i . s_C with
    s_C the cluster's vector sum, so the update needs no pairwise distance matrix.
    Returns (assignment per row, medoid row indices, iterations run).
    """
    medoids = init.clone()
    m = len(medoids)
    for it in range(1, max_iter + 1):
        assign = (x @ x[medoids].T).argmax(1)
        sums = torch.zeros(m, x.shape[1], device=x.device, dtype=x.dtype).index_add_(0, assign, x)
        score = (x * sums[assign]).sum(1)
        best = torch.full((m,), -torch.inf, device=x.device, dtype=x.dtype).scatter_reduce(
            0, assign, score, reduce="amax")
        # first row reaching its cluster's best score; an emptied cluster keeps its old medoid
        is_best = score >= best[assign]
        rows = torch.arange(x.shape[0], device=x.device)
        cand = torch.full((m,), x.shape[0], device=x.device, dtype=torch.long).scatter_reduce(
            0, assign[is_best], rows[is_best], reduce="amin")
        new = torch.where(cand < x.shape[0], cand, medoids)
        if torch.equal(new, medoids):
            break
        medoids = new
    assign = (x @ x[medoids].T).argmax(1)
    return assign, medoids, it


def sampled_pairs(n: int, n_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    i = rng.integers(0, n, n_pairs)
    j = (i + rng.integers(1, n, n_pairs)) % n  # j != i
    return i, j


def sparse_sq_distances(matrix: sp.csr_matrix, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    a, b = matrix[i], matrix[j]
    sq = lambda m: np.asarray(m.multiply(m).sum(1)).ravel()  # noqa: E731
    return sq(a) + sq(b) - 2.0 * np.asarray(a.multiply(b).sum(1)).ravel()


@torch.no_grad()
def jl_distortion(matrix: sp.csr_matrix, vectors: torch.Tensor, n_pairs: int, seed: int) -> dict[str, float]:
    """|| f(x) - f(y) ||^2 / || x - y ||^2 on random pairs of distinct concept rows."""
    rng = np.random.default_rng(seed)
    i, j = sampled_pairs(matrix.shape[0], n_pairs, rng)
    before = sparse_sq_distances(matrix, i, j)
    keep = before > 0  # identical rows (SenticNet has some) have no ratio
    i, j, before = i[keep], j[keep], before[keep]
    it, jt = torch.from_numpy(i).to(vectors.device), torch.from_numpy(j).to(vectors.device)
    after = ((vectors[it] - vectors[jt]) ** 2).sum(1).double().cpu().numpy()
    ratio = after / before
    dev = np.abs(ratio - 1.0)
    return {"val/jl_distortion": float(dev.mean()), "val/jl_distortion_p95": float(np.quantile(dev, 0.95)),
            "val/jl_ratio_median": float(np.median(ratio))}
