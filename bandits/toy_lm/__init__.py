"""The toy LM: a tiny causal transformer on synthetic verifiable tasks, behind the Backend protocol.

The middle rung between the softmax bandit (T = 1, no shared representation) and a real LLM:
multi-token responses of variable length, a shared network, temperature sampling, a warm start
from noisy demonstrations, R independent runs vectorised with per-run parameters. Importing the
package registers the Gymnasium environment ``entropic/ToyLM-v0``.

Modules: ``tasks`` (the tokenizer and batch verdicts of :mod:`entropic.tasks`' problems),
``model`` (the batched GPT and its sampler), ``pretrain`` (the cached warm start), ``backend`` and
``factory`` (the Backend protocol, the Hydra target), ``gym_env``, and ``plot``
(``python -m entropic.sims.toy_lm.plot RUN_DIR``: reward and entropy of a run).
"""

from entropic.sims.toy_lm.backend import ToyLMBackend
from entropic.sims.toy_lm.config import ToyLMConfig
from entropic.sims.toy_lm.factory import make_backend
from entropic.sims.toy_lm.gym_env import ENV_ID, ToyLMEnv, make_vector_env, register
from entropic.sims.toy_lm.model import GPTConfig, generate
from entropic.sims.toy_lm.pretrain import WarmStart, cache_key, load_or_pretrain
from entropic.sims.toy_lm.tasks import VOCAB, Dataset, Problem, Task, Verdict, decode, encode

register()

__all__ = ["ENV_ID", "VOCAB", "Dataset", "GPTConfig", "Problem", "Task", "ToyLMBackend", "ToyLMConfig", "ToyLMEnv",
           "Verdict", "WarmStart", "cache_key", "decode", "encode", "generate", "load_or_pretrain", "make_backend",
           "make_vector_env", "register"]
