"""Text to token tensors and back: left-padded prompts (chat template when there is one), answers, responses."""

from __future__ import annotations

import torch
from transformers import PreTrainedTokenizerBase


def encode_prompts(tokenizer: PreTrainedTokenizerBase, prompts: list[str], chat_template: bool,
                   device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ids ``[B, P]`` and attention mask ``[B, P]`` of ``prompts``.

    With ``chat_template`` and a tokenizer that has one, each prompt is a user turn followed by the
    generation prompt (the template writes its own special tokens); otherwise the text as it is, with
    the tokenizer's special tokens (the tiny tokenizer's ``<bos>``).
    """
    templated = chat_template and bool(getattr(tokenizer, "chat_template", None))
    if templated:
        prompts = [tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                 add_generation_prompt=True) for text in prompts]
    batch = tokenizer(prompts, padding=True, return_tensors="pt", add_special_tokens=not templated)
    return batch["input_ids"].to(device), batch["attention_mask"].to(device)


def encode_answers(tokenizer: PreTrainedTokenizerBase, answers: list[str], width: int, device: torch.device
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids ``[B, width]`` of each answer followed by EOS, right-padded, and their mask ``[B, width]``
    (an answer longer than ``width`` is cut, losing its EOS)."""
    tokens = torch.full((len(answers), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros(len(answers), width)
    for row, answer in enumerate(answers):
        ids = (tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id])[:width]
        tokens[row, :len(ids)] = torch.tensor(ids)
        mask[row, :len(ids)] = 1.0
    return tokens.to(device), mask.to(device)


def decode_responses(tokenizer: PreTrainedTokenizerBase, tokens: torch.Tensor, mask: torch.Tensor
                     ) -> list[str | None]:
    """The text of each response before its EOS token; ``None`` for a response cut before any EOS."""
    texts: list[str | None] = []
    eos = tokenizer.eos_token_id
    for ids, length in zip(tokens.tolist(), mask.sum(-1).long().tolist(), strict=True):
        ids = ids[:length]
        texts.append(tokenizer.decode(ids[:-1], skip_special_tokens=True) if ids and ids[-1] == eos else None)
    return texts


def token_flags(tokenizer: PreTrainedTokenizerBase, tokens: torch.Tensor, mask: torch.Tensor,
                characters: list[list[bool]]) -> torch.Tensor:
    """BoolTensor ``[B, T]``: the response tokens all of whose characters are flagged in ``characters``.

    ``characters[b]`` flags the characters of row ``b``'s text as :func:`decode_responses` writes it (empty for
    none). A token's characters are those its decoding adds to the text of the tokens before it; a token that
    adds none (a piece of a multi-byte character), EOS and padding are never flagged.
    """
    flags = torch.zeros(tokens.shape, dtype=torch.bool)
    for row, (ids, length) in enumerate(zip(tokens.tolist(), mask.sum(-1).long().tolist(), strict=True)):
        chars = characters[row]
        if not any(chars):
            continue
        start = 0
        for position in range(length - 1):  # the last valid token is EOS (a row with flags has a text)
            end = len(tokenizer.decode(ids[:position + 1], skip_special_tokens=True))
            flags[row, position] = end > start and all(chars[start:end])
            start = max(start, end)
    return flags.to(tokens.device)
