"""The LLM backend: a Hugging Face causal LM behind the Backend protocol, on a CPU or one GPU.

Modules: ``config`` (:class:`HFConfig`), ``tasks`` (text tasks and verifiers, a registry),
``tokenizer`` and ``model`` (the tiny in-memory model, or a local model; LoRA), ``warm_start`` (the tiny
model's cached supervised prior), ``encoding`` (text <-> tensors), ``sampling`` (``generate`` and the
sampler's log-probs), ``scoring`` (teacher-forced log-probs and entropy by row blocks), ``optim``
(AdamW with warm-up and cosine decay) and ``backend`` (:class:`HFBackend`, ``make_backend``: the Hydra
target of ``configs/backend/hf*.yaml``).
"""

from entropic.llm.backend import HFBackend, make_backend
from entropic.llm.config import HFConfig

__all__ = ["HFBackend", "HFConfig", "make_backend"]
