"""Sampling and teacher-forced scoring against the model's own logits, one unpadded sequence at a time."""

from __future__ import annotations

import pytest
import torch
from llm_tiny import PROMPTS

from entropic.llm.encoding import encode_prompts
from entropic.llm.sampling import response_mask, sample
from entropic.llm.scoring import response_hidden, token_stats

CPU = torch.device("cpu")


def _draw(model, tokenizer, temperature: float, top_p: float, seed: int = 0):
    prompt_ids, prompt_mask = encode_prompts(tokenizer, PROMPTS * 4, chat_template=True, device=CPU)
    torch.manual_seed(seed)
    drawn = sample(model, prompt_ids, prompt_mask, max_new_tokens=6, temperature=temperature, top_p=top_p,
                   eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return prompt_ids, prompt_mask, drawn


def _one_by_one(model, prompt_ids, prompt_mask, tokens, mask, temperature):
    """Log-softmax ``[B, T, V]`` of each response position from the unpadded sequence alone (default positions)."""
    rows = []
    for b in range(tokens.shape[0]):
        prompt = prompt_ids[b][prompt_mask[b] > 0]
        length = int(mask[b].sum())
        sequence = torch.cat([prompt, tokens[b, :length]]).unsqueeze(0)
        logits = model(input_ids=sequence).logits[0, len(prompt) - 1:len(prompt) - 1 + length] / temperature
        row = torch.zeros(tokens.shape[1], logits.shape[-1], dtype=logits.dtype)
        row[:length] = torch.log_softmax(logits, -1)
        rows.append(row)
    return torch.stack(rows)


@pytest.mark.parametrize("top_p", [1.0, 0.8])
def test_score_equals_each_sequence_scored_alone(model_and_tokenizer, top_p: float) -> None:
    model, tokenizer = model_and_tokenizer
    prompt_ids, prompt_mask, drawn = _draw(model, tokenizer, 0.7, top_p)
    assert prompt_mask.sum(-1).unique().numel() == 3  # left padding of prompts of 6, 11 and 12 tokens
    with torch.no_grad():
        hidden = response_hidden(model, prompt_ids, prompt_mask, drawn.tokens, drawn.mask)
        log_probs, entropy = token_stats(hidden, drawn.tokens, drawn.mask, model.get_output_embeddings(), 0.7,
                                         "detached", chunk_rows=7)
        reference = _one_by_one(model, prompt_ids, prompt_mask, drawn.tokens, drawn.mask, 0.7)
    expected = reference.gather(-1, drawn.tokens.unsqueeze(-1)).squeeze(-1) * drawn.mask
    torch.testing.assert_close(log_probs, expected, rtol=0, atol=1e-10)
    direct = -(reference.exp() * reference).sum(-1) * drawn.mask
    torch.testing.assert_close(entropy, direct, rtol=0, atol=1e-10)


def test_entropy_does_not_depend_on_the_block_size_and_has_its_gradient(model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    prompt_ids, prompt_mask, drawn = _draw(model, tokenizer, 1.0, 1.0)
    results = []
    for rows in (1, 5, 10_000):
        model.zero_grad()
        hidden = response_hidden(model, prompt_ids, prompt_mask, drawn.tokens, drawn.mask)
        _, entropy = token_stats(hidden, drawn.tokens, drawn.mask, model.get_output_embeddings(), 1.0, "grad", rows)
        entropy.sum().backward()
        results.append((entropy.detach(), model.get_output_embeddings().weight.grad.clone()))
    for entropy, grad in results[1:]:
        torch.testing.assert_close(entropy, results[0][0], rtol=0, atol=1e-12)
        torch.testing.assert_close(grad, results[0][1], rtol=1e-10, atol=1e-12)


def _nucleus_log_mass(reference: torch.Tensor, top_p: float) -> torch.Tensor:
    """``log`` of the probability mass of each position's top-p nucleus ``[B, T]``: the tokens whose strictly
    more probable tokens hold less than ``top_p`` (the smallest set reaching ``top_p``)."""
    probs = reference.exp()
    above = (probs.unsqueeze(-1) < probs.unsqueeze(-2)).to(probs.dtype) @ probs.unsqueeze(-1)  # [B, T, V, 1]
    kept = above.squeeze(-1) < top_p
    return (probs * kept).sum(-1).log()


@pytest.mark.parametrize("top_p", [1.0, 0.8])
def test_sampler_log_probs_are_the_tempered_nucleus_distribution(model_and_tokenizer, top_p: float) -> None:
    model, tokenizer = model_and_tokenizer
    prompt_ids, prompt_mask, drawn = _draw(model, tokenizer, 0.7, top_p, seed=3)
    with torch.no_grad():
        reference = _one_by_one(model, prompt_ids, prompt_mask, drawn.tokens, drawn.mask, 0.7)
    old = reference.gather(-1, drawn.tokens.unsqueeze(-1)).squeeze(-1)
    expected = (old - (_nucleus_log_mass(reference, top_p) if top_p < 1 else 0.0)) * drawn.mask
    torch.testing.assert_close(drawn.log_probs, expected.float(), rtol=0, atol=1e-5)  # generate casts to float32
    if top_p < 1:
        assert bool((drawn.log_probs[drawn.mask > 0] > old[drawn.mask > 0]).any())  # the nucleus renormalised


def test_response_mask_keeps_the_first_eos_and_nothing_after() -> None:
    tokens = torch.tensor([[5, 6, 2, 0, 0], [5, 2, 2, 2, 2], [5, 6, 7, 8, 9], [2, 0, 0, 0, 0]])
    expected = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.float)
    assert torch.equal(response_mask(tokens, eos_token_id=2), expected)


def test_sampled_rows_end_at_their_first_eos(model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    _, _, drawn = _draw(model, tokenizer, 1.0, 1.0)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    for tokens, mask in zip(drawn.tokens.tolist(), drawn.mask.tolist(), strict=True):
        length = int(sum(mask))
        assert mask == [1.0] * length + [0.0] * (len(mask) - length)
        if eos in tokens:
            assert tokens.index(eos) == length - 1 and all(t == pad for t in tokens[length:])
        else:
            assert length == len(tokens)
