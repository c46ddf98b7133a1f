"""entropic's objectives, advantage estimators and entropy controllers inside verl 0.9.1, without a fork.

verl keeps generation (vLLM / SGLang), rewards, Ray, FSDP / Megatron and checkpoints; entropic brings
its formulas (one implementation: :mod:`entropic.objectives`, :mod:`entropic.advantages`) and its
controllers (:mod:`entropic.controllers`). Modules:

- ``routes``: which entropic methods verl runs natively, through this adapter, or not at all;
- ``knobs``: where each :class:`~entropic.control.Control` knob and objective setting lives in verl's
  config (its own actor field, or entropic's top-level ``entropic`` group);
- ``normaliser`` and ``evaluate``: entropic's objective on verl's tensors, normalised as verl normalises
  a micro-batch of a data-parallel mini-batch;
- ``policy_losses`` and ``advantages``: ``entropic_<name>`` entries of verl's policy-loss and
  advantage-estimator registries;
- ``loss_hook``: the whole actor loss (policy loss, modifiers, entropy and KL terms) in place of verl's
  ``ppo_loss``, with the step's knobs read from the batch's extra info;
- ``knob_hook``: the controller on the driver, from verl's per-step metrics;
- ``settings``: both hooks from a composed verl config, checked for consistency;
- ``trainer``: verl's ``sync`` trainer registered as ``entropic``, which installs both hooks;
- ``plugin``: the ``verl.plugins`` entry point that registers the losses and estimators in every process;
- ``hydra_overrides`` and ``export``: an entropic config as Hydra overrides and a launch script.
"""
