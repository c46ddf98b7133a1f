"""pass@k per entropy bucket, and the one-step NSR drift against closed forms."""

from __future__ import annotations

import pytest
import torch

from entropic.laws.checks_control import nsr_drift
from entropic.laws.percentiles import entropy_percentile_curves, passk_by_entropy_bucket
from entropic.laws.records import RunRecords
from entropic.protocol import Rollout, TokenStats


def test_passk_buckets_rank_prompts_by_entropy() -> None:
    # one run, 4 prompts of G = 2; prompt entropies 0.4, 0.1, 0.3, 0.2; correct counts 2, 0, 1, 1
    entropy = torch.tensor([0.4, 0.4, 0.1, 0.1, 0.3, 0.3, 0.2, 0.2]).view(8, 1)
    rewards = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    batch = Rollout(tokens=torch.zeros(8, 1, dtype=torch.long), mask=torch.ones(8, 1), rewards=rewards,
                    group=torch.arange(4).repeat_interleave(2), old_log_probs=torch.zeros(8, 1))
    out = passk_by_entropy_bucket(batch, TokenStats(log_probs=torch.zeros(8, 1), entropy=entropy), ks=(1, 2, 4),
                                  num_buckets=2)
    # low bucket: prompts 1 (0 of 2) and 3 (1 of 2); high bucket: prompts 2 (1 of 2) and 0 (2 of 2)
    assert out["laws/pass@1/bucket0"].tolist() == pytest.approx([0.25])
    assert out["laws/pass@1/bucket1"].tolist() == pytest.approx([0.75])
    assert out["laws/pass@2/bucket0"].tolist() == pytest.approx([0.5])
    assert torch.isnan(out["laws/pass@4/bucket0"]).all()  # k above the group size
    assert out["laws/entropy/bucket1"].tolist() == pytest.approx([0.35])


def test_percentile_curves_come_from_the_logged_quantiles() -> None:
    records = RunRecords.from_lines([{"step": 0, "entropy/p10": 0.1, "entropy/p90": 0.9, "entropy/mean": 0.5}])
    assert list(entropy_percentile_curves(records)) == [10.0, 90.0]


def probe(step: torch.Tensor, logits: torch.Tensor, token: int) -> dict[str, torch.Tensor]:
    return {"before": logits.view(1, 1, -1), "after": (logits + step).view(1, 1, -1),
            "tokens": torch.tensor([[token]]), "advantages": torch.tensor([[-1.0]]), "mask": torch.ones(1, 1),
            "run": torch.zeros(1, dtype=torch.long)}


def test_nsr_drift_of_the_softmax_gradient_is_first_order() -> None:
    logits = torch.tensor([2.0, 0.5, 0.0, -1.0], dtype=torch.float64)
    pi = torch.softmax(logits, -1)
    y, lr = 0, 1e-4
    step = lr * (pi - torch.nn.functional.one_hot(torch.tensor(y), 4).double())  # descend log pi_y
    stats = nsr_drift(probe(step, logits, y))
    q = pi[1:] / pi[1:].sum()
    std = ((q * (pi[1:] - (q * pi[1:]).sum()) ** 2).sum()).sqrt()
    assert stats["drift"][0] == pytest.approx(float(lr * std), rel=1e-6)  # d log(pi_v / pi_w) = lr (pi_v - pi_w)
    assert stats["r2"][0] == pytest.approx(1.0, abs=1e-9)


def test_a_logit_only_step_keeps_every_ratio() -> None:
    logits = torch.tensor([2.0, 0.5, 0.0, -1.0], dtype=torch.float64)
    step = torch.tensor([-0.7, 0.0, 0.0, 0.0], dtype=torch.float64)
    assert nsr_drift(probe(step, logits, 0))["drift"][0] == pytest.approx(0.0, abs=1e-15)
