"""System identification of the entropy loop (sample time: one optimizer step).

- :mod:`~entropic.tuning.sysid.signals`: excitation signals (PRBS, steps), ``[K]`` arrays;
- :mod:`~entropic.tuning.sysid.experiment`: open-loop experiments on a backend (operating point, excitation);
- :mod:`~entropic.tuning.sysid.models`: discrete models, least-squares fits and selection on held-out runs;
- :mod:`~entropic.tuning.sysid.noise`: the batch entropy's noise floor at a fixed policy.
"""
