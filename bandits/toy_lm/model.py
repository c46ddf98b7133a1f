"""A GPT of R independent runs: every weight has a leading run dimension, every product is a ``bmm``.

nanoGPT's model (Karpathy, ``model.py``: token + position embeddings, pre-LayerNorm blocks of causal
self-attention and a GELU MLP, a final LayerNorm and an untied output head), written as functions of a
parameter dict whose tensors are ``[R, ...]``. A batch is ``[R, N, T]``: N sequences for each run.

Vectorisation never leaks between runs: a linear layer is ``torch.baddbmm(b, x [R, N*T, i], w [R, i, o])``,
attention the fused kernel over ``(R * N, heads)`` sequences, the embedding a lookup in the flattened table
``[R * V, C]`` (whose backward accumulates rows serially in index order), and LayerNorm has no
affine parameters inside the kernel (the gains multiply afterwards). A run's slice of every kernel
therefore has the same shape alone or among many runs and computes the same bits (checked by
``tests/toy_lm/test_toy_lm_identity.py``).

:func:`generate` samples with a key/value cache by inverse-CDF draws on given uniforms; temperature 0
is greedy decoding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from entropic.sims.rng import sample_categorical
from entropic.sims.toy_lm.tasks import EOS, PAD

Params = dict[str, torch.Tensor]
Cache = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class GPTConfig:
    """Shape of the model."""

    vocab_size: int
    block_size: int  # prompt + response tokens
    n_layer: int
    n_head: int
    n_embd: int


def init_params(config: GPTConfig, generator: torch.Generator, dtype: torch.dtype = torch.float32) -> Params:
    """nanoGPT's initialisation for one run (leading dimension 1): N(0, 0.02) weights, residual
    projections N(0, 0.02 / sqrt(2 n_layer)), zero biases, unit LayerNorm gains."""
    C, V, L = config.n_embd, config.vocab_size, config.block_size

    def normal(*shape: int, std: float = 0.02) -> torch.Tensor:
        return torch.randn(1, *shape, generator=generator, dtype=torch.float64).mul_(std).to(dtype)

    projection_std = 0.02 / math.sqrt(2 * config.n_layer)
    params = {"wte": normal(V, C), "wpe": normal(L, C)}
    for i in range(config.n_layer):
        params.update({
            f"h{i}.ln1.g": torch.ones(1, C, dtype=dtype), f"h{i}.ln1.b": torch.zeros(1, C, dtype=dtype),
            f"h{i}.attn.w": normal(C, 3 * C), f"h{i}.attn.b": torch.zeros(1, 3 * C, dtype=dtype),
            f"h{i}.proj.w": normal(C, C, std=projection_std), f"h{i}.proj.b": torch.zeros(1, C, dtype=dtype),
            f"h{i}.ln2.g": torch.ones(1, C, dtype=dtype), f"h{i}.ln2.b": torch.zeros(1, C, dtype=dtype),
            f"h{i}.fc.w": normal(C, 4 * C), f"h{i}.fc.b": torch.zeros(1, 4 * C, dtype=dtype),
            f"h{i}.fc2.w": normal(4 * C, C, std=projection_std), f"h{i}.fc2.b": torch.zeros(1, C, dtype=dtype),
        })
    params.update({"ln_f.g": torch.ones(1, C, dtype=dtype), "ln_f.b": torch.zeros(1, C, dtype=dtype),
                   "head.w": normal(C, V), "head.b": torch.zeros(1, V, dtype=dtype)})
    return params


def stack_runs(params: Params, num_runs: int, requires_grad: bool) -> Params:
    """Independent copies ``[R, ...]`` of one run's parameters ``[1, ...]`` (contiguous, not expanded)."""
    return {name: p.detach().expand(num_runs, *p.shape[1:]).clone().requires_grad_(requires_grad)
            for name, p in params.items()}


def _linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``x [R, M, i] @ w [R, i, o] + b [R, o]`` -> ``[R, M, o]``."""
    return torch.baddbmm(b.unsqueeze(1), x, w)


def _layer_norm(x: torch.Tensor, g: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """LayerNorm over the last dimension of ``x [R, M, C]`` with per-run gain and bias ``[R, C]``."""
    return F.layer_norm(x, x.shape[-1:]) * g.unsqueeze(1) + b.unsqueeze(1)


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, past: int) -> torch.Tensor:
    """Causal softmax attention of queries at positions ``past ..`` on keys from position 0.

    ``q [R, N, nh, T, hs]``, ``k, v [R, N, nh, past + T, hs]``; the fused kernel (nanoGPT's flash
    path) on ``[R * N, nh, ., hs]``, whose slices are computed independently.
    """
    R, N, nh, T, hs = q.shape
    flat = [x.reshape(R * N, nh, x.shape[3], hs) for x in (q, k, v)]
    if past == 0:
        y = F.scaled_dot_product_attention(*flat, is_causal=T > 1)
    elif T == 1:  # one new token sees everything
        y = F.scaled_dot_product_attention(*flat)
    else:  # query t sees keys up to past + t
        allowed = torch.ones(T, past + T, dtype=torch.bool, device=q.device).tril(past)
        y = F.scaled_dot_product_attention(*flat, attn_mask=allowed)
    return y.view(R, N, nh, T, hs)


def forward(params: Params, idx: torch.Tensor, n_head: int, cache: Cache | None = None,
            start: int = 0) -> tuple[torch.Tensor, Cache]:
    """Logits ``[R, N, T, V]`` of every position of ``idx``, and the cache (as :func:`hidden_states`)."""
    x, new_cache = hidden_states(params, idx, n_head, cache, start)
    R, N, T, C = x.shape
    logits = _linear(x.view(R, N * T, C), params["head.w"], params["head.b"])  # [R, N*T, V]
    return logits.view(R, N, T, -1), new_cache


def hidden_states(params: Params, idx: torch.Tensor, n_head: int, cache: Cache | None = None,
                  start: int = 0) -> tuple[torch.Tensor, Cache]:
    """The last hidden state (after the final LayerNorm) of every position of ``idx``.

    Parameters
    ----------
    params : dict[str, FloatTensor [R, ...]]
        The runs' parameters.
    idx : LongTensor [R, N, T]
        Token ids, positions ``start .. start + T - 1``.
    n_head : int
        Attention heads.
    cache : list of (keys, values), optional
        Per layer ``[R, N, n_head, start, C / n_head]`` from earlier calls; the new tokens attend to
        them and to each other causally. ``None`` means ``start = 0`` and no past.
    start : int
        Position of ``idx[..., 0]``.

    Returns
    -------
    hidden : FloatTensor [R, N, T, C]
    cache : list of (keys, values)
        Keys and values of positions ``0 .. start + T - 1``.
    """
    R, N, T = idx.shape
    wte = params["wte"]
    V, C = wte.shape[1], wte.shape[2]
    hs = C // n_head
    offsets = (torch.arange(R, device=idx.device) * V).view(R, 1, 1)
    x = F.embedding(idx + offsets, wte.reshape(R * V, C))  # [R, N, T, C]
    x = (x + params["wpe"][:, start:start + T].unsqueeze(1)).reshape(R, N * T, C)
    past = 0 if cache is None else cache[0][0].shape[3]
    new_cache: Cache = []
    n_layer = sum(1 for name in params if name.endswith(".ln1.g"))
    for i in range(n_layer):
        h = _layer_norm(x, params[f"h{i}.ln1.g"], params[f"h{i}.ln1.b"])
        qkv = _linear(h, params[f"h{i}.attn.w"], params[f"h{i}.attn.b"])  # [R, N*T, 3C]
        q, k, v = qkv.view(R, N, T, 3, n_head, hs).permute(3, 0, 1, 4, 2, 5).unbind(0)  # 3 x [R, N, nh, T, hs]
        if cache is not None:
            k = torch.cat([cache[i][0], k], dim=3)  # [R, N, nh, past+T, hs]
            v = torch.cat([cache[i][1], v], dim=3)
        new_cache.append((k, v))
        y = _attention(q, k, v, past)  # [R, N, nh, T, hs]
        y = y.permute(0, 1, 3, 2, 4).reshape(R, N * T, C)  # re-assemble the heads side by side
        x = x + _linear(y, params[f"h{i}.proj.w"], params[f"h{i}.proj.b"])
        h = _layer_norm(x, params[f"h{i}.ln2.g"], params[f"h{i}.ln2.b"])
        h = F.gelu(_linear(h, params[f"h{i}.fc.w"], params[f"h{i}.fc.b"]))
        x = x + _linear(h, params[f"h{i}.fc2.w"], params[f"h{i}.fc2.b"])
    x = _layer_norm(x, params["ln_f.g"], params["ln_f.b"])
    return x.view(R, N, T, C), new_cache


def response_logits(params: Params, prompts: torch.Tensor, responses: torch.Tensor, n_head: int) -> torch.Tensor:
    """Logits ``[R, N, T_resp, V]`` that predict each response token, from one causal pass over
    ``prompts [R, N, T_prompt]`` followed by ``responses [R, N, T_resp]`` (teacher forcing)."""
    T_prompt = prompts.shape[-1]
    logits, _ = forward(params, torch.cat([prompts, responses[..., :-1]], dim=-1), n_head)
    return logits[:, :, T_prompt - 1:]


def response_hidden_states(params: Params, prompts: torch.Tensor, responses: torch.Tensor, n_head: int
                           ) -> torch.Tensor:
    """The last hidden states ``[R, N, T_resp, C]`` that predict each response token (the states a critic
    values), from the teacher-forced pass of :func:`response_logits`."""
    T_prompt = prompts.shape[-1]
    hidden, _ = hidden_states(params, torch.cat([prompts, responses[..., :-1]], dim=-1), n_head)
    return hidden[:, :, T_prompt - 1:]


@dataclass
class Generation:
    """Sampled responses and what the sampler saw.

    Attributes
    ----------
    tokens : LongTensor [R, N, T]
        Responses, ``<pad>`` after ``<eos>``.
    mask : BoolTensor [R, N, T]
        Response tokens up to and including ``<eos>``.
    log_probs : FloatTensor [R, N, T]
        Sampler's log-prob of each token under the temperature-scaled distribution.
    logits : FloatTensor [R, N, T, V]
        The temperature-scaled logits each token was drawn from (raw logits when greedy).
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    log_probs: torch.Tensor
    logits: torch.Tensor


@torch.no_grad()
def generate(params: Params, prompts: torch.Tensor, max_new_tokens: int, n_head: int, temperature: float,
             uniforms: torch.Tensor | None = None) -> Generation:
    """Sample responses to ``prompts [R, N, T_prompt]`` until ``<eos>`` or ``max_new_tokens``.

    Token t of row n is drawn from ``softmax(logits / temperature)`` by the inverse CDF at
    ``uniforms[:, n, t]`` (``[R, N, max_new_tokens]``, e.g. from :func:`entropic.sims.rng.uniform`), so a
    run's responses are a function of its parameters and its uniforms only. ``temperature = 0`` is
    greedy decoding (``argmax``; ``uniforms`` unused). Every row advances in lock step (equal prompt
    lengths); the loop stops early once every row has emitted ``<eos>``.
    """
    R, N, _ = prompts.shape
    greedy = temperature == 0.0
    if not greedy and uniforms is None:
        raise ValueError("generate needs uniforms [R, N, max_new_tokens] when temperature > 0")
    logits, cache = forward(params, prompts, n_head)
    last = logits[:, :, -1]  # [R, N, V]
    V = last.shape[-1]
    tokens = torch.full((R, N, max_new_tokens), PAD, dtype=torch.long, device=prompts.device)
    mask = torch.zeros(R, N, max_new_tokens, dtype=torch.bool, device=prompts.device)
    log_probs = torch.zeros(R, N, max_new_tokens, dtype=last.dtype, device=prompts.device)
    step_logits = torch.zeros(R, N, max_new_tokens, V, dtype=last.dtype, device=prompts.device)
    done = torch.zeros(R, N, dtype=torch.bool, device=prompts.device)
    for t in range(max_new_tokens):
        scaled = last if greedy else last / temperature
        if greedy:
            token = scaled.argmax(-1)
        else:
            token = sample_categorical(scaled.softmax(-1), uniforms[:, :, t:t + 1]).squeeze(-1)  # [R, N]
        live = ~done
        token = torch.where(live, token, PAD)
        tokens[:, :, t], mask[:, :, t], step_logits[:, :, t] = token, live, scaled
        log_probs[:, :, t] = scaled.log_softmax(-1).gather(-1, token.unsqueeze(-1)).squeeze(-1) * live
        done = done | (token == EOS)
        if bool(done.all()) or t == max_new_tokens - 1:
            break
        logits, cache = forward(params, token.unsqueeze(-1), n_head, cache, start=prompts.shape[-1] + t)
        last = logits[:, :, -1]
    return Generation(tokens, mask, log_probs, step_logits)
