"""Pheromone rules: `mmas_air` against a literal transcription of the authors' MATLAB, and `mmas`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lightning_modules.parallel_aco.mmas import Colony, MMASParams, nearest_neighbour_length, two_opt
from lightning_modules.parallel_aco.tsplib import random_euclidean
from reproduce.errors import UserError


def _instance(n=10, seed=0):
    return random_euclidean(n, seed=seed).distance_matrix()


def _matlab_refresh(tau, tour, length, rho, rootkey):
    """GlobleRefreshPheromone + CaculateANB of MMASG, line by line, in single precision."""
    n = tau.shape[0]
    closed = np.append(tour, tour[0])
    sumdtau = np.zeros((n, n))
    sumdtau[closed[:-1], closed[1:]] = 1.0 / length
    maxtau = np.float32(1.0 / (rho * length))
    mintau = np.float32(float(maxtau) * rootkey)
    tau = (tau * np.float32(1.0 - rho) + sumdtau.astype(np.float32)).astype(np.float32)
    tau[(tau < mintau) & (tau != 0)] = mintau
    tau[tau > maxtau] = maxtau
    anb = ((tau != mintau).sum(axis=0) - 2).sum() / n
    reset = anb < 0.01
    if reset:
        tau = ((1 - np.eye(n)) * maxtau).astype(np.float32)
    return tau, anb, reset


def test_authors_update_matches_their_matlab():
    D = _instance(12)
    params = MMASParams(variant="mmas_air", stop_branching=None)
    colony = Colony(params, D)
    n = 12
    root = 0.05 ** (1 / n)
    rootkey = (1 - root) / ((n - 3) * root)
    assert colony.tau_ratio == pytest.approx(rootkey)
    # initial trail: tau_max of the tour 1, 2, ..., n, zero diagonal
    l0 = D[np.arange(n), np.roll(np.arange(n), -1)].sum()
    assert colony.tau[0, 1].item() == pytest.approx(1 / (0.02 * l0))
    assert (torch.diagonal(colony.tau) == 0).all()
    rng = np.random.default_rng(1)
    tau = colony.tau.numpy().copy()
    for _ in range(40):
        tours = np.stack([rng.permutation(n) for _ in range(5)]).astype(np.int32)
        lengths = D[tours, np.roll(tours, -1, axis=1)].sum(axis=1)
        ib = int(np.argmin(lengths))
        stats = colony.update(torch.from_numpy(tours), torch.from_numpy(lengths))
        tau, anb, _ = _matlab_refresh(tau, tours[ib], int(lengths[ib]), 0.02, rootkey)
        assert np.array_equal(colony.tau.numpy(), tau)
        assert stats["branching"] == pytest.approx(anb)
    # directed deposit: the reverse edge of the last iteration-best tour did not gain
    assert not np.allclose(tau, tau.T)


def test_authors_branching_resets_or_stops_on_a_converged_trail():
    D = _instance(10)
    tour = np.arange(10, dtype=np.int32)
    length = int(D[tour, np.roll(tour, -1)].sum())
    tours, lengths = torch.from_numpy(np.stack([tour] * 3)), torch.tensor([length] * 3)
    stopping = Colony(MMASParams(variant="mmas_air"), D)
    while not stopping.stop and stopping.iteration < 1000:
        stopping.update(tours, lengths)
    assert stopping.stop and stopping.branching <= 0.0 and stopping.iteration < 400
    resetting = Colony(MMASParams(variant="mmas_air", stop_branching=None), D)
    for _ in range(stopping.iteration):
        resetting.update(tours, lengths)
    assert resetting.resets == 1 and not resetting.stop
    off = ~np.eye(10, dtype=bool)
    assert np.allclose(resetting.tau.numpy()[off], resetting.tau_max)


def test_probability_matrix_normalisations():
    D = _instance(9)
    column = Colony(MMASParams(variant="mmas_air"), D)
    P = column.probabilities().numpy()
    assert np.allclose(P.sum(axis=0), 1.0, atol=1e-6) and (np.diag(P) == 0).all()
    plain = Colony(MMASParams(variant="mmas", prob_norm="none", beta=2.0), D)
    eta = np.where(D > 0, 1.0 / np.maximum(D, 1), 0.0)
    expected = plain.tau.numpy() * (eta * eta)
    assert np.allclose(plain.probabilities().numpy(), expected, rtol=1e-6)


def test_stuetzle_update_is_symmetric_with_its_limits_and_schedule():
    n = 14
    D = _instance(n, seed=2)
    colony = Colony(MMASParams(variant="mmas", prob_norm="none", gb_every=3), D)
    no_gb = Colony(MMASParams(variant="mmas", prob_norm="none", gb_every=10**6), D)
    assert colony.tau_max == pytest.approx(1 / (0.02 * nearest_neighbour_length(D)))
    root = 0.05 ** (1 / n)
    assert colony.tau_ratio == pytest.approx((1 - root) / ((n / 2 - 1) * root))
    rng = np.random.default_rng(3)
    good = two_opt(np.arange(n), D).astype(np.int32)  # shorter than the nearest-neighbour tour
    good_len = int(D[good, np.roll(good, -1)].sum())
    assert good_len <= nearest_neighbour_length(D)
    good_edges = (good, np.roll(good, -1))
    for it in range(6):
        other = rng.permutation(n).astype(np.int32)
        other_len = int(D[other, np.roll(other, -1)].sum())
        tours = torch.from_numpy(np.stack([good, other]) if it == 0 else np.stack([other]))
        lengths = torch.tensor([good_len, other_len] if it == 0 else [other_len])
        colony.update(tours, lengths)
        no_gb.update(tours, lengths)
        tau = colony.tau.numpy()
        assert np.array_equal(tau, tau.T)
        assert colony.tau_max == pytest.approx(1 / (0.02 * colony.best_length))
        off = ~np.eye(n, dtype=bool)
        assert tau[off].min() >= np.float32(colony.tau_min) * (1 - 1e-6)
        assert tau[off].max() <= np.float32(colony.tau_max) * (1 + 1e-6)
        if it == 2:  # (iteration + 1) % gb_every == 0: the restart-best tour (good) is reinforced
            assert (colony.tau[good_edges] >= no_gb.tau[good_edges]).all()
            assert (colony.tau[good_edges] > no_gb.tau[good_edges]).sum() >= n // 2
        else:
            assert torch.equal(colony.tau, no_gb.tau) if it < 2 else True


def test_stuetzle_restart_on_stagnation():
    D = _instance(10, seed=4)
    params = MMASParams(variant="mmas", prob_norm="none", restart_check_every=1, restart_stagnation=5)
    colony = Colony(params, D)
    tour = np.arange(10, dtype=np.int32)
    length = int(D[tour, np.roll(tour, -1)].sum())
    for _ in range(400):
        colony.update(torch.from_numpy(tour[None]), torch.tensor([length]))
        if colony.resets:
            break
    assert colony.resets == 1
    assert colony.lambda_branching() == pytest.approx((10 - 1) * 10 / 20)  # all trails equal again


def test_two_opt_untangles_a_circle():
    angles = np.linspace(0, 2 * np.pi, 30, endpoint=False)
    coords = np.column_stack([np.cos(angles), np.sin(angles)]) * 1000
    from lightning_modules.parallel_aco.tsplib import TSPInstance

    inst = TSPInstance("circle", 30, "EUC_2D", coords=coords)
    D = inst.distance_matrix()
    start = np.random.default_rng(5).permutation(30)
    improved = two_opt(start, D)
    assert sorted(improved.tolist()) == list(range(30))
    assert inst.tour_length(improved) == inst.tour_length(np.arange(30)) < inst.tour_length(start)


def test_bad_settings_are_user_errors():
    with pytest.raises(UserError, match="variant"):
        MMASParams(variant="acs")
    with pytest.raises(UserError, match="rho"):
        MMASParams(rho=1.5)
    with pytest.raises(UserError, match="at least 5 cities"):
        Colony(MMASParams(), _instance(4))
