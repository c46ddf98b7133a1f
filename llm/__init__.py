"""The LLM backend: a Hugging Face causal LM behind the Backend protocol, on a CPU or one GPU.

Modules: ``config`` (:class:`HFConfig`), ``tasks`` (text tasks and verifiers, a registry),
``tokenizer`` and ``model`` (the tiny in-memory model, or a local model; LoRA), ``warm_start`` (the tiny
model's cached supervised prior), ``encoding`` (text <-> tensors), ``sampling`` (``generate`` and the
sampler's log-probs), ``scoring`` (teacher-forced log-probs and entropy by row blocks), ``optim``
(AdamW with warm-up and cosine decay) and ``backend`` (:class:`HFBackend`, ``make_backend``: the Hydra
target of ``configs/backend/hf*.yaml``). For the engines that scale: ``method`` (one run's method from an
entropic config), ``trl_adapter`` and ``trl_export`` (TRL's ``GRPOTrainer``), ``verl/`` (verl's registries,
loss hook and trainer) and ``export_cli`` (``entropic-export --to trl|verl``).
"""

from entropic.llm.backend import HFBackend, make_backend
from entropic.llm.config import HFConfig

__all__ = ["HFBackend", "HFConfig", "make_backend"]
