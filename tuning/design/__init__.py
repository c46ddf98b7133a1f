"""Analytic controller design for the entropy loop: ``entropic-design`` (:mod:`~entropic.tuning.design.cli`).

- :mod:`~entropic.tuning.design.config`: the schema of ``configs/design/default.yaml``;
- :mod:`~entropic.tuning.design.rules`: SIMC, IMC and Ziegler-Nichols gains and the controller config;
- :mod:`~entropic.tuning.design.loop_model`: python-control models and margins of the closed loop;
- :mod:`~entropic.tuning.design.validate`: closed-loop validation on the backend against the prediction;
- :mod:`~entropic.tuning.design.plot`, :mod:`~entropic.tuning.design.report`: figures and ``design.md``.
"""
