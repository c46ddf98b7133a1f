"""The python-control loop model equals the trainer's closed loop, step for step, on a linear plant.

A backend whose "entropy" follows a known difference equation runs under entropic's real
Trainer and EntropyController (built from the config entropic-design writes). Its trajectory must
equal ``control.forced_response`` of :func:`entropic.tuning.design.loop_model.closed_loop_tf`: this pins the
timing convention (u_k acts in step k's update and shows in y_(k+1)) and the law's equations.
"""

from __future__ import annotations

import math
from pathlib import Path

import control as ct
import numpy as np
import pytest
import torch

from entropic.advantages import AdvantageConfig
from entropic.control import Control
from entropic.controllers import build_controller, controller_config_from_dict
from entropic.loop import Trainer, TrainerConfig
from entropic.objectives import Objective, ObjectiveConfig
from entropic.protocol import Rollout, TokenStats
from entropic.reduce import EPS
from entropic.tuning.design.loop_model import (
    closed_loop_tf,
    effort_tf,
    loop_analysis,
    loop_margins,
    pid_tf,
    ultimate_point,
)
from entropic.tuning.design.rules import controller_config
from entropic.tuning.sysid.models import DiscreteModel

Y0, C0 = 1.5, 0.4  # operating point: entropy (nats) and entropy coefficient
ROWS = 2  # responses per run


class LinearPlantBackend:
    """R runs of ``A(q) y = B(q) (c - C0) + const`` (at rest at Y0); the coefficient c is read off the gradient.

    ``score`` reports entropy ``y_k + w`` with a zero parameter ``w``; the entropy bonus makes
    ``d loss / d w = -c``, so ``backward`` recovers exactly the coefficient the objective used. The
    reported entropy is scaled by ``(ROWS + EPS) / ROWS`` to undo verl's ``+EPS`` guard of the masked
    mean, so the sensor reads ``y_k`` to rounding error.
    """

    device = torch.device("cpu")

    def __init__(self, model: DiscreteModel, num_runs: int) -> None:
        self.model, self.num_runs = model, num_runs
        self.w = torch.zeros(num_runs, dtype=torch.float64, requires_grad=True)
        self.y = [torch.full((num_runs,), Y0, dtype=torch.float64)]
        self.du: list[torch.Tensor] = []
        self.run = torch.arange(num_runs).repeat_interleave(ROWS)  # one group per run

    def rollout(self) -> Rollout:
        rows = ROWS * self.num_runs
        return Rollout(tokens=torch.zeros(rows, 1, dtype=torch.long), mask=torch.ones(rows, 1, dtype=torch.float64),
                       rewards=torch.zeros(rows, dtype=torch.float64), group=self.run.clone(),
                       old_log_probs=torch.full((rows, 1), math.log(0.5), dtype=torch.float64), run=self.run,
                       num_runs=self.num_runs)

    def score(self, rollout: Rollout, entropy: str = "grad") -> TokenStats:
        w = self.w[rollout.run_ids()].unsqueeze(-1)
        entropy = (self.y[-1][rollout.run_ids()][:, None] + w) * ((ROWS + EPS) / ROWS)
        return TokenStats(log_probs=rollout.old_log_probs + 0.0 * w, entropy=entropy)

    def backward(self, loss: torch.Tensor) -> None:
        (self.grad,) = torch.autograd.grad(loss.sum(), self.w)

    def step(self) -> dict[str, torch.Tensor]:
        grad = self.grad
        self.du.append(-grad.detach() - C0)
        m, k = self.model, len(self.y)
        value = torch.full((self.num_runs,), (1.0 + sum(m.a)) * Y0, dtype=torch.float64)
        for i, ai in enumerate(m.a, start=1):
            value -= ai * (self.y[k - i] if k - i >= 0 else self.y[0])
        for j, bj in enumerate(m.b):
            lag = k - m.nk - j
            if lag >= 0:
                value += bj * self.du[lag]
        self.y.append(value)
        return {"grad/norm": grad.abs()}

    def evaluate(self) -> dict[str, torch.Tensor]:
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


PLANTS = {
    "fopdt": DiscreteModel("fopdt", [-0.99], [0.03], nk=1),
    "integrating-dead-time-2": DiscreteModel("integrating", [-1.0], [0.03], nk=3),
    "arx-2-2": DiscreteModel("arx", [-1.2, 0.21], [0.03, -0.01], nk=1),
}
CONTROL_LAWS = {
    "pi": dict(kp=1.2, ki=0.012),
    "pid-filter-ema": dict(kp=1.0, ki=0.01, kd=3.0, derivative_tau=2.0, ema=0.3),
}


def _trainer_trajectory(model: DiscreteModel, config: dict, steps: int, tmp_path: Path) -> np.ndarray:
    backend = LinearPlantBackend(model, num_runs=2)
    objective = Objective(ObjectiveConfig(terms=["entropy"]))
    control = Control(entropy_coeff=0.0)
    controller = build_controller(controller_config_from_dict(config), 2, control, dtype=torch.float64)
    trainer = Trainer(backend, objective, AdvantageConfig(), control, controller,
                      TrainerConfig(steps=steps, tensorboard=False, eval_every=0, checkpoint_every=0), tmp_path, [0, 1])
    return np.stack([trainer.train_step()["entropy/mean"].double().numpy() for _ in range(steps)])


@pytest.mark.parametrize("plant", PLANTS)
@pytest.mark.parametrize("law", CONTROL_LAWS)
def test_python_control_closed_loop_equals_the_trainer_step_for_step(plant: str, law: str, tmp_path: Path) -> None:
    model, gains, steps, step_size = PLANTS[plant], dict(CONTROL_LAWS[law]), 120, 0.2
    ema = gains.pop("ema", None)
    tau = gains.pop("derivative_tau", 0.0)
    config = controller_config({"kd": 0.0, **gains}, target=Y0 + step_size, actuator="entropy_coeff", bias=C0,
                               direction=1, sensor="entropy/mean", limits=None, anti_windup="none")
    config["law"]["derivative_tau"], config["sensor"]["ema"] = tau, ema
    simulated = _trainer_trajectory(model, config, steps, tmp_path) - Y0  # [steps, R]

    c_r, c_y = pid_tf(gains["kp"], gains["ki"], gains.get("kd", 0.0), tau, ema)
    time = np.arange(steps, dtype=float)
    predicted = ct.forced_response(closed_loop_tf(model.tf(), c_r, c_y), time, np.full(steps, step_size)).outputs
    assert simulated[0] == pytest.approx([0.0, 0.0], abs=1e-12)  # u_0 shows in y_1 at the earliest
    np.testing.assert_allclose(simulated, np.repeat(predicted[:, None], 2, axis=1), rtol=1e-7, atol=1e-12)


def test_effort_prediction_is_the_controller_output(tmp_path: Path) -> None:
    model = PLANTS["fopdt"]
    config = controller_config({"kp": 1.2, "ki": 0.012, "kd": 0.0}, target=Y0 + 0.1, actuator="entropy_coeff",
                               bias=C0, direction=1, sensor="entropy/mean", limits=None, anti_windup="none")
    backend_steps = 60
    backend = LinearPlantBackend(model, 1)
    controller = build_controller(controller_config_from_dict(config), 1, Control(), dtype=torch.float64)
    trainer = Trainer(backend, Objective(ObjectiveConfig(terms=["entropy"])), AdvantageConfig(), Control(),
                      controller, TrainerConfig(tensorboard=False, eval_every=0, checkpoint_every=0), tmp_path, [0])
    knob = []
    for _ in range(backend_steps):
        trainer.train_step()
        knob.append(float(trainer.control.entropy_coeff))  # float64 (the logged metric is float32)
    c_r, c_y = pid_tf(1.2, 0.012)
    time = np.arange(backend_steps, dtype=float)
    effort = ct.forced_response(effort_tf(model.tf(), c_r, c_y), time, np.full(backend_steps, 0.1)).outputs
    np.testing.assert_allclose(np.asarray(knob) - C0, effort, rtol=1e-7, atol=1e-12)


def test_margins_of_a_p_controller_on_a_discrete_integrator_match_the_closed_form() -> None:
    # L = kp b / (z - 1): |L(e^jw)| = kp b / (2 sin(w/2)), phase -(90 + w/2) deg; phase -180 deg at w = pi.
    kp, b = 2.0, 0.1
    margins = loop_margins(ct.tf([kp * b], [1.0, -1.0], dt=1))
    wgc = 2.0 * math.asin(kp * b / 2.0)
    assert margins.gm == pytest.approx(2.0 / (kp * b), rel=1e-9)
    assert margins.wpc == pytest.approx(math.pi)
    assert margins.wgc == pytest.approx(wgc, rel=1e-6)
    assert margins.pm == pytest.approx(90.0 - math.degrees(wgc) / 2.0, abs=1e-4)


def test_ultimate_point_of_discrete_and_continuous_plants() -> None:
    assert ultimate_point(ct.tf([0.02], [1.0, -1.0], dt=1)) == pytest.approx((2.0 / 0.02, 2.0))
    assert ultimate_point(ct.tf([0.02], [1.0, -0.9], dt=1)) == pytest.approx((1.9 / 0.02, 2.0))
    ku, pu = ultimate_point(ct.tf([1.0], [1.0, 3.0, 3.0, 1.0]))  # 1/(s+1)^3: Ku = 8 at w = sqrt(3)
    assert ku == pytest.approx(8.0, rel=1e-4) and pu == pytest.approx(2 * math.pi / math.sqrt(3), rel=1e-4)


def test_integral_action_leaves_no_steady_state_error_and_poles_match_feedback() -> None:
    plant = ct.tf([0.03], [1.0, -1.0], dt=1)
    analysis = loop_analysis(plant, 1.2, 0.012, horizon=2000)
    assert analysis.stable and analysis.step[-1] == pytest.approx(1.0, abs=1e-6)
    reference = ct.feedback(plant * pid_tf(1.2, 0.012)[1], 1).poles()
    assert sorted(analysis.poles, key=abs) == pytest.approx(sorted(reference, key=abs), rel=1e-9)
