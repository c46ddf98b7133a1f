"""System identification of the entropy loop: discrete models, least-squares fits, selection on held-out runs.

Conventions
-----------
- Sample time ``dt = 1``: one optimizer step. ``y_k`` is the sensor reading (e.g. ``entropy/mean``)
  of step ``k``, measured on step ``k``'s batch before its update; ``u_k`` is the knob applied in
  that update. ``u_k`` can therefore show first in ``y_{k+1}``: every model has a delay ``nk >= 1``
  (the sample-and-hold step), and dead time counts the steps beyond it (``nk = 1 + dead_time``).
- Models act on deviations ``du = u - u0`` from the operating-point knob ``u0``, in absolute
  entropy ``y`` with a constant term ``c`` (the drift per step of an integrating model, the
  equilibrium offset of a stable one)::

      A(q) y_k = B(q) du_k + c,   A = 1 + a_1 q^-1 + ... + a_na q^-na,
                                  B = q^-nk (b_0 + b_1 q^-1 + ... + b_{nb-1} q^-(nb-1))

  ``fopdt``: ``y_{k+1} = a y_k + b du_{k-d} + c``; ``integrating``: ``y_{k+1} = y_k + b du_{k-d} + c``;
  ``arx``: any orders. :meth:`DiscreteModel.tf` is ``B / A`` as a discrete
  ``control.TransferFunction`` (``dt = 1``), the constant left out.
- Fit quality is the normalised RMS error of the *free-run* simulation (not the one-step
  prediction) on held-out runs, ``NRMSE = ||y - y_sim|| / ||y - mean(y)||``: 0 is perfect, 1 is no
  better than the mean of the data.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import control as ct
import numpy as np

__all__ = ["MODEL_KINDS", "DiscreteModel", "Identification", "fit_arx", "fit_fopdt", "fit_integrating", "fit_model",
           "identify", "nrmse"]

MODEL_KINDS = ("fopdt", "integrating", "arx")
"""Model structures :func:`fit_model` knows."""


def nrmse(y: np.ndarray, y_hat: np.ndarray) -> float:
    """``||y - y_hat|| / ||y - mean(y)||`` over all entries (0 is a perfect fit)."""
    y, y_hat = np.asarray(y, dtype=float), np.asarray(y_hat, dtype=float)
    spread = np.linalg.norm(y - y.mean())
    return float(np.linalg.norm(y - y_hat) / spread) if spread > 0 else math.inf


@dataclass
class DiscreteModel:
    """A discrete SISO model ``A(q) y = B(q) du + c`` with ``dt = 1`` step (see the module docstring).

    Attributes
    ----------
    kind : str
        ``fopdt``, ``integrating`` or ``arx``.
    a : list of float
        ``[a_1, ..., a_na]`` (the leading 1 of ``A`` left out).
    b : list of float
        ``[b_0, ..., b_{nb-1}]``.
    nk : int
        Input delay in steps, >= 1 (1 = the sample-and-hold step only, no dead time).
    c : float
        Constant term per step (nats).
    fit_nrmse : float
        Free-run NRMSE on the data it was fitted on (filled by the fits).
    """

    kind: str
    a: list[float]
    b: list[float]
    nk: int = 1
    c: float = 0.0
    fit_nrmse: float = math.nan

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"DiscreteModel.kind must be one of {list(MODEL_KINDS)}, got {self.kind!r}")
        if self.nk < 1:
            raise ValueError(f"DiscreteModel.nk must be >= 1 (u_k shows in y_(k+1) at the earliest), got {self.nk}")
        self.a, self.b = [float(v) for v in self.a], [float(v) for v in self.b]

    @property
    def dead_time(self) -> int:
        """Steps of dead time beyond the sample-and-hold step, ``nk - 1``."""
        return self.nk - 1

    def tf(self) -> ct.TransferFunction:
        """``B(z) / A(z)`` from ``du`` to ``y`` as a discrete ``control.TransferFunction`` (``dt = 1``)."""
        den = [1.0, *self.a]
        num = [0.0] * self.nk + list(self.b)
        n = max(len(den), len(num))
        den, num = den + [0.0] * (n - len(den)), num + [0.0] * (n - len(num))
        return ct.tf(np.trim_zeros(num, "f") or [0.0], den, dt=1)

    def simulate(self, du: np.ndarray, y_init: np.ndarray) -> np.ndarray:
        """Free-run simulation: ``y`` ``[K, R]`` from inputs ``du`` ``[K, R]`` and the first outputs.

        Parameters
        ----------
        du : numpy.ndarray
            ``[K]`` or ``[K, R]`` input deviations; values before step 0 are taken as 0.
        y_init : numpy.ndarray
            ``[n0]`` or ``[n0, R]``: the first ``n0 >= len(a)`` measured outputs, copied as they are.

        Returns
        -------
        numpy.ndarray
            Simulated outputs, the shape of ``du``.
        """
        du = np.asarray(du, dtype=float)
        y_init = np.asarray(y_init, dtype=float)
        squeeze = du.ndim == 1
        du2, y0 = (du[:, None], y_init.reshape(len(y_init), -1)) if squeeze else (du, y_init)
        num_steps, n0 = du2.shape[0], max(len(self.a), 1)
        y = np.zeros_like(du2)
        y[:n0] = y0[:n0]
        a, b = np.asarray(self.a), np.asarray(self.b)
        for k in range(n0, num_steps):
            value = np.full(du2.shape[1], self.c)
            for i, ai in enumerate(a, start=1):
                value -= ai * y[k - i]
            for j, bj in enumerate(b):
                lag = k - self.nk - j
                if lag >= 0:
                    value += bj * du2[lag]
            y[k] = value
        return y[:, 0] if squeeze else y

    def params(self) -> dict[str, float]:
        """Physical parameters: steady-state gain and time constant (stable first order), slope (integrating)."""
        out: dict[str, float] = {"dead_time": float(self.dead_time), "offset": self.c}
        if self.kind == "integrating":
            out["slope"] = self.b[0]
        elif self.kind == "fopdt":
            pole = -self.a[0]
            out["pole"] = pole
            out["gain"] = self.b[0] / (1.0 - pole) if pole != 1.0 else math.inf
            out["tau"] = -1.0 / math.log(pole) if 0.0 < pole < 1.0 else math.inf
        else:
            out["dc_gain"] = float(sum(self.b) / (1.0 + sum(self.a))) if 1.0 + sum(self.a) != 0 else math.inf
        return out

    def to_dict(self) -> dict:
        """JSON-ready fields plus :meth:`params`."""
        data = asdict(self)
        data["params"] = self.params()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> DiscreteModel:
        """Inverse of :meth:`to_dict` (``params`` is recomputed)."""
        return cls(**{k: v for k, v in data.items() if k != "params"})


def _regression(du: np.ndarray, y: np.ndarray, na: int, lags: list[int], integrating: bool, start: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Stacked regressors and targets over runs: columns ``-y_{k-i}`` (i <= na), ``du_{k-l}``, 1; rows k >= start."""
    du, y = np.atleast_2d(du.T).T, np.atleast_2d(y.T).T
    start = max([start, na, *lags, 1])
    rows, targets = [], []
    for k in range(start, y.shape[0]):
        cols = [-y[k - i] for i in range(1, na + 1)] + [du[k - lag] for lag in lags] + [np.ones(y.shape[1])]
        rows.append(np.stack(cols, axis=-1))
        targets.append(y[k] - y[k - 1] if integrating else y[k])
    return np.concatenate(rows), np.concatenate(targets)


def fit_arx(du: np.ndarray, y: np.ndarray, na: int = 2, nb: int = 2, nk: int = 1, kind: str = "arx"
            ) -> DiscreteModel:
    """Least-squares ARX fit ``A(q) y = B(q) du + c`` pooled over runs.

    Parameters
    ----------
    du, y : numpy.ndarray
        ``[K]`` or ``[K, R]`` input deviations and outputs (R runs, stacked in the regression).
    na, nb : int, optional
        Orders of ``A`` (>= 0) and ``B`` (>= 1), default 2 and 2.
    nk : int, optional
        Input delay, >= 1 (default 1).
    kind : str, optional
        Label of the returned model (``arx``; :func:`fit_fopdt` passes ``fopdt``).

    Returns
    -------
    DiscreteModel
    """
    if na < 0 or nb < 1 or nk < 1:
        raise ValueError(f"fit_arx needs na >= 0, nb >= 1, nk >= 1; got na={na}, nb={nb}, nk={nk}")
    lags = [nk + j for j in range(nb)]
    regressors, targets = _regression(np.asarray(du, float), np.asarray(y, float), na, lags, integrating=False)
    theta, *_ = np.linalg.lstsq(regressors, targets, rcond=None)
    model = DiscreteModel(kind, list(theta[:na]), list(theta[na:na + nb]), nk, float(theta[-1]))
    return _scored(model, du, y)


def fit_fopdt(du: np.ndarray, y: np.ndarray, max_dead_time: int = 3) -> DiscreteModel:
    """First order plus dead time ``y_{k+1} = a y_k + b du_{k-d} + c``; ``d`` in ``[0, max_dead_time]``.

    The dead time with the smallest one-step residual wins. See :func:`fit_arx` for ``du``, ``y``.
    """
    return _best_delay(lambda nk: fit_arx(du, y, 1, 1, nk, kind="fopdt"), du, y, max_dead_time)


def fit_integrating(du: np.ndarray, y: np.ndarray, max_dead_time: int = 3) -> DiscreteModel:
    """Integrating model ``y_{k+1} = y_k + b du_{k-d} + c`` (``c`` = drift per step), least squares.

    The dead time with the smallest one-step residual wins. See :func:`fit_arx` for ``du``, ``y``.
    """
    def fit(nk: int) -> DiscreteModel:
        regressors, targets = _regression(np.asarray(du, float), np.asarray(y, float), 0, [nk], integrating=True)
        (b, c), *_ = np.linalg.lstsq(regressors, targets, rcond=None)
        return _scored(DiscreteModel("integrating", [-1.0], [float(b)], nk, float(c)), du, y)

    return _best_delay(fit, du, y, max_dead_time)


def fit_model(kind: str, du: np.ndarray, y: np.ndarray, *, orders: tuple[int, int, int] = (2, 2, 1),
              max_dead_time: int = 3) -> DiscreteModel:
    """Fit one model structure by name: ``fopdt``, ``integrating`` or ``arx`` (with ``orders = (na, nb, nk)``)."""
    if kind == "fopdt":
        return fit_fopdt(du, y, max_dead_time)
    if kind == "integrating":
        return fit_integrating(du, y, max_dead_time)
    if kind == "arx":
        return fit_arx(du, y, *orders)
    raise ValueError(f"unknown model kind {kind!r}; allowed: {list(MODEL_KINDS)}")


def _one_step_residual(model: DiscreteModel, du: np.ndarray, y: np.ndarray, start: int) -> float:
    lags = [model.nk + j for j in range(len(model.b))]
    regressors, targets = _regression(du, y, len(model.a), lags, False, start)
    theta = np.array([*model.a, *model.b, model.c])
    return float(np.mean((regressors @ theta - targets) ** 2))


def _best_delay(fit, du: np.ndarray, y: np.ndarray, max_dead_time: int) -> DiscreteModel:
    if max_dead_time < 0:
        raise ValueError(f"max_dead_time must be >= 0, got {max_dead_time}")
    models = [fit(1 + d) for d in range(max_dead_time + 1)]
    start = max_dead_time + 2  # the same samples for every delay
    du, y = np.asarray(du, float), np.asarray(y, float)
    return min(models, key=lambda m: _one_step_residual(m, du, y, start))


def _scored(model: DiscreteModel, du: np.ndarray, y: np.ndarray) -> DiscreteModel:
    y = np.asarray(y, float)
    model.fit_nrmse = nrmse(y, model.simulate(np.asarray(du, float), y[: max(len(model.a), 1)]))
    return model


@dataclass
class Identification:
    """Candidate models, their held-out scores and the winner.

    Attributes
    ----------
    models : dict of str to DiscreteModel
        One fitted model per structure.
    scores : dict of str to float
        Mean over held-out runs of the free-run NRMSE.
    per_run : dict of str to list of float
        Free-run NRMSE of each held-out run.
    best : str
        The structure with the smallest score.
    """

    models: dict[str, DiscreteModel]
    scores: dict[str, float]
    per_run: dict[str, list[float]]
    best: str

    @property
    def model(self) -> DiscreteModel:
        """The best model."""
        return self.models[self.best]

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {"best": self.best, "scores": self.scores, "per_run": self.per_run,
                "models": {kind: model.to_dict() for kind, model in self.models.items()}}


def identify(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
             kinds: tuple[str, ...] = MODEL_KINDS, *, orders: tuple[int, int, int] = (2, 2, 1),
             max_dead_time: int = 3) -> Identification:
    """Fit every structure in ``kinds`` on ``train`` and rank them by free-run NRMSE on ``test``.

    Parameters
    ----------
    train, test : tuple of numpy.ndarray
        ``(du, y)`` pairs, each ``[K, R]``; the test runs are simulated from their first readings.
    kinds : tuple of str, optional
        Structures to fit (default all of :data:`MODEL_KINDS`).
    orders : tuple of int, optional
        ``(na, nb, nk)`` of the ARX model.
    max_dead_time : int, optional
        Largest dead time tried by ``fopdt`` and ``integrating``.

    Returns
    -------
    Identification
    """
    du_test, y_test = (np.atleast_2d(np.asarray(v, float).T).T for v in test)
    models, scores, per_run = {}, {}, {}
    for kind in kinds:
        model = fit_model(kind, *train, orders=orders, max_dead_time=max_dead_time)
        simulated = model.simulate(du_test, y_test[: max(len(model.a), 1)])
        runs = [nrmse(y_test[:, r], simulated[:, r]) for r in range(y_test.shape[1])]
        models[kind], per_run[kind], scores[kind] = model, runs, float(np.mean(runs))
    best = min(scores, key=lambda kind: scores[kind] if math.isfinite(scores[kind]) else math.inf)
    return Identification(models, scores, per_run, best)
