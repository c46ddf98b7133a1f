"""Identification recovers known discrete plants from noisy data; models, signals and scores behave."""

from __future__ import annotations

import control as ct
import numpy as np
import pytest

from entropic.tuning.sysid.models import DiscreteModel, fit_arx, fit_fopdt, fit_integrating, identify, nrmse
from entropic.tuning.sysid.signals import prbs_signal, step_signal

STEPS, RUNS, NOISE = 400, 4, 0.01  # noise: std of the white process noise added to y each step (nats)


def _data(model: DiscreteModel, amplitude: float, seed: int, runs: int = RUNS, shift: int = 0
          ) -> tuple[np.ndarray, np.ndarray]:
    """``(du, y)`` ``[STEPS, runs]`` of ``model`` under PRBS inputs, with process noise, from y = 1."""
    rng = np.random.default_rng(seed)
    du = np.stack([amplitude * prbs_signal(STEPS, 10, 7, shift + 29 * r) for r in range(runs)], axis=1)
    y = np.ones((STEPS, runs))
    n0 = max(len(model.a), 1)
    for k in range(n0, STEPS):
        value = model.c - sum(ai * y[k - i] for i, ai in enumerate(model.a, start=1))
        value = value + sum(bj * du[k - model.nk - j] for j, bj in enumerate(model.b) if k - model.nk - j >= 0)
        y[k] = value + NOISE * rng.standard_normal(runs)
    return du, y


def test_fopdt_fit_recovers_pole_gain_and_dead_time() -> None:
    true = DiscreteModel("fopdt", [-0.95], [0.04], nk=3, c=0.05)  # K = 0.8, tau = 19.5 steps, 2 steps dead time
    model = fit_fopdt(*_data(true, amplitude=1.0, seed=0), max_dead_time=4)
    assert model.dead_time == 2
    # Tolerances: pole within 0.005, b within 5%, steady-state gain within 10%.
    assert model.a[0] == pytest.approx(-0.95, abs=5e-3)
    assert model.b[0] == pytest.approx(0.04, rel=0.05)
    assert model.params()["gain"] == pytest.approx(0.8, rel=0.10)


def test_integrating_fit_recovers_slope_drift_and_dead_time() -> None:
    true = DiscreteModel("integrating", [-1.0], [0.03], nk=2, c=-0.001)  # drifts down 1e-3 nats per step
    model = fit_integrating(*_data(true, amplitude=1.0, seed=1), max_dead_time=3)
    assert model.dead_time == 1
    assert model.b[0] == pytest.approx(0.03, rel=0.05)  # within 5%
    assert model.c == pytest.approx(-0.001, abs=1e-3)  # drift within 1e-3 nats per step (4 standard errors)


def test_arx_fit_recovers_second_order_coefficients() -> None:
    true = DiscreteModel("arx", [-1.5, 0.56], [0.05, 0.03], nk=1, c=0.06)  # poles 0.7 and 0.8
    model = fit_arx(*_data(true, amplitude=1.0, seed=2), na=2, nb=2, nk=1)
    np.testing.assert_allclose(model.a, true.a, atol=0.02)  # each coefficient within 0.02
    np.testing.assert_allclose(model.b, true.b, atol=0.005)


def test_identify_ranks_by_held_out_free_run_error_and_prefers_the_true_structure() -> None:
    true = DiscreteModel("fopdt", [-0.9], [0.05], nk=1, c=0.1)
    result = identify(_data(true, 1.0, seed=3), _data(true, 1.0, seed=4, runs=2, shift=7))
    assert result.best in ("fopdt", "arx") and result.scores["integrating"] > result.scores["fopdt"]
    assert result.scores[result.best] < 0.3
    assert set(result.per_run) == {"fopdt", "integrating", "arx"} and len(result.per_run["fopdt"]) == 2


@pytest.mark.parametrize("model", [DiscreteModel("fopdt", [-0.9], [0.05], nk=3),
                                   DiscreteModel("integrating", [-1.0], [0.02], nk=1),
                                   DiscreteModel("arx", [-1.2, 0.3], [0.1, -0.05], nk=2)],
                         ids=["fopdt", "integrating", "arx"])
def test_transfer_function_and_difference_equation_agree(model: DiscreteModel) -> None:
    du = prbs_signal(80, 5, 5)
    simulated = model.simulate(du, np.zeros(max(len(model.a), 1)))
    response = ct.forced_response(model.tf(), np.arange(80.0), du).outputs
    np.testing.assert_allclose(simulated, response, atol=1e-12)
    assert model.tf().dt == 1


def test_model_round_trips_through_its_dict() -> None:
    model = DiscreteModel("arx", [-1.2, 0.3], [0.1, -0.05], nk=2, c=0.01, fit_nrmse=0.2)
    data = model.to_dict()
    assert data["params"]["dead_time"] == 1.0
    assert DiscreteModel.from_dict(data) == model


def test_models_refuse_zero_delay_and_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="nk must be >= 1"):
        DiscreteModel("fopdt", [-0.9], [0.1], nk=0)
    with pytest.raises(ValueError, match="kind must be one of"):
        DiscreteModel("oe", [-0.9], [0.1])


def test_prbs_is_a_maximum_length_sequence_held_for_its_period() -> None:
    order, period = 5, 3
    signal = prbs_signal(period * (2**order - 1) * 2, period, order)
    bits = signal[::period]
    assert set(np.unique(signal)) == {-1.0, 1.0}
    assert (signal.reshape(-1, period) == signal.reshape(-1, period)[:, :1]).all()  # held for `period` steps
    one_cycle = bits[: 2**order - 1]
    assert np.array_equal(bits[2**order - 1:], one_cycle)  # period 2^n - 1
    assert one_cycle.sum() == 1.0  # one more +1 than -1: maximum length
    assert not np.array_equal(prbs_signal(60, 3, order, shift=4), prbs_signal(60, 3, order))


def test_step_signal_and_nrmse() -> None:
    assert step_signal(5, at=2).tolist() == [0, 0, 1, 1, 1]
    y = np.array([1.0, 2.0, 3.0])
    assert nrmse(y, y) == 0.0 and nrmse(y, np.full(3, 2.0)) == pytest.approx(1.0)
