"""The policy: a local causal LM and its tokenizer, or the tiny model built in memory; LoRA through ``peft``."""

from __future__ import annotations

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Qwen2Config,
)

from entropic.llm.config import HFConfig
from entropic.llm.tokenizer import character_tokenizer

TINY_CONTEXT = 512
"""Positions of the tiny model (prompt + response)."""


def load_tokenizer(config: HFConfig) -> PreTrainedTokenizerBase:
    """The tokenizer, left-padding, with a pad token (the EOS token when it has none)."""
    if config.model is None and config.tokenizer is None:
        return character_tokenizer()
    tokenizer = AutoTokenizer.from_pretrained(config.tokenizer or config.model)
    tokenizer.padding_side = "left"
    if tokenizer.eos_token_id is None:
        raise ValueError(f"backend.tokenizer: the tokenizer of {config.tokenizer or config.model!r} has no EOS "
                         f"token, so responses cannot end; give a tokenizer that has one")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def tiny_model(config: HFConfig, tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
    """A randomly initialised Qwen2 or Llama model of ``config``'s shape, seeded by ``task_seed``."""
    shape = dict(vocab_size=len(tokenizer), hidden_size=config.n_embd, intermediate_size=2 * config.n_embd,
                 num_hidden_layers=config.n_layer, num_attention_heads=config.n_head,
                 num_key_value_heads=config.n_kv_head, max_position_embeddings=TINY_CONTEXT,
                 tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                 pad_token_id=tokenizer.pad_token_id)
    model_config = Qwen2Config(**shape) if config.architecture == "qwen2" else LlamaConfig(**shape)
    if config.attn_implementation is not None:
        model_config._attn_implementation = config.attn_implementation
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.task_seed)
        return AutoModelForCausalLM.from_config(model_config, dtype=torch.float32)


def load_model(config: HFConfig) -> PreTrainedModel:
    """``config.model`` from its directory, in ``config.dtype``."""
    return AutoModelForCausalLM.from_pretrained(config.model, dtype=config.torch_dtype,
                                                attn_implementation=config.attn_implementation)


def add_lora(model: PreTrainedModel, config: HFConfig) -> PreTrainedModel:
    """``model`` with LoRA adapters of ``config.lora_rank`` on ``lora_target_modules``; the base is frozen."""
    from peft import LoraConfig, get_peft_model  # only LoRA runs need peft

    lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.lora_target_modules), task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def context_length(model: PreTrainedModel) -> int | None:
    """The most positions the model takes, when its config says."""
    return getattr(model.config.get_text_config(), "max_position_embeddings", None)
