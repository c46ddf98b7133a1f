"""Vectorised optimisers against torch.optim, run by run, and per-run gradient clipping."""

from __future__ import annotations

import torch

from entropic.sims.optim import SGD, Adam, clip_per_run, per_run_norm


def _grads(step: int, shapes: list[tuple[int, ...]]) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(step)
    return [torch.randn(shape, generator=gen, dtype=torch.float64) for shape in shapes]


def test_adam_matches_torch_adam_for_every_run() -> None:
    shapes = [(3, 4, 5), (3, 2)]
    lr = torch.tensor([1e-3, 1e-2, 0.3], dtype=torch.float64)
    params = [torch.randn(shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
              for shape in shapes]
    references = [[p[r].clone().requires_grad_() for p in params] for r in range(3)]
    torch_optims = [torch.optim.Adam(ref, lr=float(lr[r]), betas=(0.8, 0.99), eps=1e-6)
                    for r, ref in enumerate(references)]
    ours = Adam(params, beta1=0.8, beta2=0.99, eps=1e-6)
    for step in range(6):
        grads = _grads(step, shapes)
        ours.step(params, grads, lr)
        for r, (ref, optim) in enumerate(zip(references, torch_optims, strict=True)):
            for tensor, grad in zip(ref, grads, strict=True):
                tensor.grad = grad[r].clone()
            optim.step()
    for r, ref in enumerate(references):
        for ours_param, torch_param in zip(params, ref, strict=True):
            assert torch.allclose(ours_param[r], torch_param.detach(), rtol=1e-12, atol=1e-14)


def test_sgd_uses_each_runs_learning_rate() -> None:
    params = [torch.zeros(2, 3, dtype=torch.float64)]
    grads = [torch.ones(2, 3, dtype=torch.float64)]
    SGD().step(params, grads, torch.tensor([0.5, 2.0], dtype=torch.float64))
    assert torch.equal(params[0], torch.tensor([[-0.5] * 3, [-2.0] * 3], dtype=torch.float64))


def test_adam_state_round_trip() -> None:
    params = [torch.zeros(2, 3)]
    optim = Adam(params, 0.9, 0.999, 1e-8)
    optim.step(params, [torch.ones(2, 3)], torch.tensor([0.1, 0.1]))
    restored = Adam([torch.zeros(2, 3)], 0.9, 0.999, 1e-8)
    restored.load_state_dict(optim.state_dict())
    assert restored.t == 1 and torch.equal(restored.m[0], optim.m[0]) and torch.equal(restored.v[0], optim.v[0])


def test_adam_reset_makes_the_next_step_a_first_step() -> None:
    params = [torch.randn(2, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)]
    lr = torch.tensor([0.1, 0.01], dtype=torch.float64)
    optim = Adam(params, 0.9, 0.999, 1e-8)
    for step in range(4):
        optim.step(params, _grads(step, [(2, 3)]), lr)
    optim.reset()
    before = params[0].clone()
    grad = _grads(9, [(2, 3)])[0]
    optim.step(params, [grad], lr)
    # a first step: m_hat = g, v_hat = g^2, so p -= lr * g / (|g| + eps)
    expected = before - lr.view(2, 1) * grad / (grad.abs() + 1e-8)
    assert optim.t == 1 and torch.allclose(params[0], expected, rtol=1e-12, atol=1e-15)


def test_per_run_clipping_matches_torch_clip_grad_norm() -> None:
    grads = _grads(0, [(4, 3, 5), (4, 7)])
    grads[0][1] *= 1e-3  # run 1 below the limit: left alone
    clipped, norm = clip_per_run([g.clone() for g in grads], max_norm=0.5)
    for r in range(4):
        reference = [torch.zeros_like(g[r], requires_grad=True) for g in grads]
        for tensor, grad in zip(reference, grads, strict=True):
            tensor.grad = grad[r].clone()
        total = torch.nn.utils.clip_grad_norm_(reference, max_norm=0.5)
        assert torch.allclose(norm[r], total, rtol=1e-12)
        for ours, tensor in zip(clipped, reference, strict=True):
            assert torch.allclose(ours[r], tensor.grad, rtol=1e-12, atol=0)
    assert torch.allclose(per_run_norm(clipped)[[0, 2, 3]], torch.full((3,), 0.5, dtype=torch.float64), rtol=1e-5)
    unclipped, _ = clip_per_run(grads, max_norm=None)
    assert unclipped is grads
