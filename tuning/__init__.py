"""Tuning of entropy controllers on the simulators, in three sub-packages.

- :mod:`entropic.tuning.sysid`: identification experiments on a backend and discrete models of the entropy loop;
- :mod:`entropic.tuning.design`: analytic PI/PID design from an identified model, python-control analysis and
  closed-loop validation (``entropic-design``, :mod:`entropic.tuning.design.cli`);
- :mod:`entropic.tuning.study`: Optuna studies of whole entropy methods (``entropic-tune``,
  :mod:`entropic.tuning.study.cli`).

:mod:`entropic.tuning.demo` (``entropic-demo``) runs a small study end to end; :mod:`entropic.tuning.figures`
saves the figures of both design and study reports.
"""
