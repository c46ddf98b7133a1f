"""Optuna studies of entropy methods on a simulator: ``entropic-tune`` (:mod:`~entropic.tuning.study.cli`).

- :mod:`~entropic.tuning.study.config`: the schema of the ``tune`` section of ``configs/tune/*.yaml``;
- :mod:`~entropic.tuning.study.space`: search spaces and how a trial samples them;
- :mod:`~entropic.tuning.study.batch`: trials x seeds as one vectorised simulation;
- :mod:`~entropic.tuning.study.targets`: a trial's value(s) from its runs' trajectories;
- :mod:`~entropic.tuning.study.optuna_study`, :mod:`~entropic.tuning.study.storage`,
  :mod:`~entropic.tuning.study.runner`, :mod:`~entropic.tuning.study.recovery`: the study, where it lives,
  a worker's loop and the retry of trials left by dead workers;
- :mod:`~entropic.tuning.study.report`, :mod:`~entropic.tuning.study.export`: the report and the best
  trial as ready configs.
"""
