"""The learning rules against autograd and against each other (tiny nets, CPU, float64, < 1 s)."""

import math

import pytest
import torch

from lightning_modules.bidirectional_bp import rules
from lightning_modules.bidirectional_bp.network import FeedbackNet, conv_specs, mlp_specs

N, K = 6, 4


def make_net(arch: str, feedback=None, seed: int = 0) -> tuple[FeedbackNet, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    if arch == "mlp":
        shape = (1, 4, 4)
        specs = mlp_specs(shape, K, (7, 5))
    else:
        # 3x3 stride-2 pools overlap, so a max can win two windows: the case max_unpool2d gets wrong.
        shape = (2, 9, 9)
        specs = conv_specs(shape, K, (3, 4), (6,), kernel=5, padding=2)
    net = FeedbackNet(specs, "tanh", feedback).double()
    x = torch.rand(N, *shape, dtype=torch.float64)
    y = torch.randint(0, K, (N,))
    return net, x, y


def autograd_grads(net, x, y, loss="bce"):
    net.zero_grad()
    logits = net(x)
    value, _, _ = rules.output_error(logits, y, loss, "mean")
    value.backward()
    return [(w.grad.clone(), b.grad.clone()) for w, b in zip(net.weights, net.biases)]


def rule_grads(method, net, x, y, loss="bce"):
    with torch.no_grad():
        cache = net.forward_cached(x)
        _, e, _ = rules.output_error(cache.logits, y, loss, "mean")
        return rules.weight_grads(net, cache, rules.deltas_for(method, net, cache, e))


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("loss", ["bce", "ce"])
def test_bp_rule_is_the_exact_gradient(arch, loss):
    net, x, y = make_net(arch)
    for (gw, gb), (aw, ab) in zip(rule_grads("bp", net, x, y, loss), autograd_grads(net, x, y, loss)):
        torch.testing.assert_close(gw, aw)
        torch.testing.assert_close(gb, ab)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_fa_with_feedback_equal_to_forward_weights_is_bp(arch):
    net, x, y = make_net(arch, feedback="layer")
    for i, w in enumerate(net.weights):
        net.feedback_matrix(i).copy_(w.detach())
    for (fw, fb), (bw, bb) in zip(rule_grads("fa", net, x, y), rule_grads("bp", net, x, y)):
        torch.testing.assert_close(fw, bw, rtol=0, atol=0)
        torch.testing.assert_close(fb, bb, rtol=0, atol=0)


def test_fa_with_random_feedback_differs_from_bp():
    net, x, y = make_net("mlp", feedback="layer")
    fa, bp = rule_grads("fa", net, x, y), rule_grads("bp", net, x, y)
    assert not torch.allclose(fa[0][0], bp[0][0])
    torch.testing.assert_close(fa[-1][0], bp[-1][0])  # the output layer sees the true error


def test_dfa_hidden_delta_is_projected_error_times_derivative():
    net, x, y = make_net("mlp", feedback="direct")
    with torch.no_grad():
        cache = net.forward_cached(x)
        _, e, _ = rules.output_error(cache.logits, y)
        deltas = rules.deltas_for("dfa", net, cache, e)
    for i in range(net.num_layers - 1):
        a = net.affine(i, cache.inputs[i]).detach()
        expected = (e @ net.feedback_matrix(i)) * (1 - torch.tanh(a) ** 2)
        torch.testing.assert_close(deltas[i], expected)
    torch.testing.assert_close(deltas[-1], e)


def test_dfa_conv_delta_goes_through_the_pool():
    net, x, y = make_net("conv", feedback="direct")
    with torch.no_grad():
        cache = net.forward_cached(x)
        _, e, _ = rules.output_error(cache.logits, y)
        deltas = rules.deltas_for("dfa", net, cache, e)
    # autograd through pool and tanh of the first conv layer, fed the projected error
    a = net.affine(0, x).detach().requires_grad_()
    h = torch.nn.functional.max_pool2d(torch.tanh(a), 3, 2)
    (h * (e @ net.feedback_matrix(0)).view_as(h)).sum().backward()
    torch.testing.assert_close(deltas[0], a.grad)


@pytest.mark.parametrize("method,arch", [("bdfa", "mlp"), ("bdfa", "conv"), ("bfa", "mlp"), ("bfa", "conv")])
def test_feedback_update_is_ascent_on_its_objective(method, arch):
    net, x, y = make_net(arch, feedback=rules.FEEDBACK_KIND[method], seed=1)
    with torch.no_grad():
        cache = net.forward_cached(x)
        _, _, p = rules.output_error(cache.logits, y)
        code = rules.target_code(p, y)
    trained = [i for i, *_ in rules._feedback_terms(method, net, cache, code)]
    mats = [net.feedback_matrix(i).clone().requires_grad_() for i in trained]
    for i, m in zip(trained, mats):
        setattr(net, f"{'B' if net.feedback == 'layer' else 'D'}{i}", m)
    objective = rules.feedback_objective(method, net, cache, code)
    expected = torch.autograd.grad(objective, mats)
    for i, m in zip(trained, mats):
        net.register_buffer(f"{'B' if net.feedback == 'layer' else 'D'}{i}", m.detach().clone())
    before = [net.feedback_matrix(i).clone() for i in trained]
    lr = 1e-3
    with torch.no_grad():
        rules.update_feedback(method, net, cache, code, lr)
        after_objective = rules.feedback_objective(method, net, cache, code)
    for i, b, g in zip(trained, before, expected):
        torch.testing.assert_close(net.feedback_matrix(i) - b, lr * g)
    assert after_objective > objective.detach()


@pytest.mark.parametrize("method", ["bdfa", "bfa"])
def test_feedback_training_moves_top_down_signal_toward_activation(method):
    net, x, y = make_net("mlp", feedback=rules.FEEDBACK_KIND[method], seed=2)
    with torch.no_grad():
        cache = net.forward_cached(x)
        _, _, p = rules.output_error(cache.logits, y)
        code = rules.target_code(p, y)

        def mean_cosine():
            cos = [torch.cosine_similarity(t.flatten(1), h.flatten(1)).mean()
                   for _, _, h, t in rules._feedback_terms(method, net, cache, code)]
            return torch.stack(cos)

        start = mean_cosine()
        for _ in range(50):
            rules.update_feedback(method, net, cache, code, 0.05)
        assert torch.all(mean_cosine() > start + 0.05)


def test_target_code():
    p = torch.full((3, 4), 0.8)
    c = rules.target_code(p, torch.tensor([0, 3, 1]), 0.25)
    assert torch.allclose(c, torch.tensor([[1, .2, .2, .2], [.2, .2, .2, 1], [.2, 1, .2, .2]]))


def test_sum_reduction_is_n_times_mean():
    logits, y = torch.randn(5, K, dtype=torch.float64), torch.randint(0, K, (5,))
    _, e_mean, _ = rules.output_error(logits, y, "bce", "mean")
    _, e_sum, _ = rules.output_error(logits, y, "bce", "sum")
    torch.testing.assert_close(e_sum, 5 * e_mean)


def test_feedback_init_scales():
    net = FeedbackNet(mlp_specs((1, 28, 28), 10, (800, 800)), feedback="direct")
    assert net.feedback_matrix(0).shape == (10, 800)
    assert net.feedback_matrix(0).abs().max() <= 1 / math.sqrt(800)
    assert net.feedback_matrix(0).abs().max() > 0.9 / math.sqrt(800)
    cnet = FeedbackNet(conv_specs((3, 32, 32), 10, (96, 128, 256), (2048, 2048)), feedback="direct")
    assert [tuple(cnet.feedback_matrix(i).shape) for i in range(5)] == [
        (10, 96 * 15 * 15), (10, 128 * 7 * 7), (10, 2304), (10, 2048), (10, 2048)]
    assert cnet.specs[3].weight_shape == (2048, 2304)  # the paper's 2304-2048-2048-10 head


def test_angle():
    a = torch.tensor([1.0, 0.0])
    assert rules.angle_deg(a, a) == pytest.approx(0.0, abs=1e-6)
    assert rules.angle_deg(a, torch.tensor([0.0, 2.0])) == pytest.approx(90.0)
    assert rules.angle_deg(a, torch.zeros(2)) == 90.0
