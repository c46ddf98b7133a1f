"""BCPG-NSA's verified steps on the LLM backend: character flags mapped onto tokens, and the rollout's field."""

from __future__ import annotations

import torch

from entropic.llm.encoding import token_flags
from entropic.tasks import verified_characters


class _Pieces:
    """A stand-in tokenizer whose tokens are multi-character pieces: ids 0 (EOS) and 1.. index ``PIECES``."""

    PIECES = ("", "7,", "12", ",3", "3", "1")

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(self.PIECES[i] for i in ids)


def test_a_token_is_verified_when_all_its_characters_are() -> None:
    # "7,12,33" of the sort problem (7, 12, 33) written as a wrong "7,1" "2" ... : pieces "7," "12" ",3" "3" + EOS
    tokens = torch.tensor([[1, 2, 3, 4, 0, 0], [1, 5, 5, 0, 0, 0], [1, 2, 0, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]], dtype=torch.float32)
    characters = [[True] * 5 + [False, False],   # "7,12,33" with only "7,12," verified: ",3" straddles the end
                  [True, True, True, False],     # "7,11": "7," and the first "1"
                  []]                            # nothing verified
    expected = torch.tensor([[True, True, False, False, False, False], [True, True, False, False, False, False],
                             [False] * 6])
    assert torch.equal(token_flags(_Pieces(), tokens, mask, characters), expected)


def test_rollout_marks_the_characters_the_task_verifies(make_backend) -> None:
    # the character tokenizer: one token a character; half of each group the reference answer, verified whole
    backend = make_backend(max_new_tokens=5, off_policy_share=0.5)
    rollout = backend.rollout()
    verified = rollout.verified_steps
    assert verified is not None and verified.shape == rollout.mask.shape
    eos = backend.tokenizer.eos_token_id
    for row in range(rollout.batch_size):
        length = int(rollout.mask[row].sum())
        ids = rollout.tokens[row, :length].tolist()
        text = backend.tokenizer.decode(ids[:-1], skip_special_tokens=True) if ids and ids[-1] == eos else None
        prompt = backend.tokenizer.decode(rollout.prompts[row][rollout.prompt_mask[row] > 0], skip_special_tokens=True)
        problem = next(p for p in backend.train_problems if p.prompt == prompt)
        flags = verified_characters(backend.task.task, problem.data, text)
        assert verified[row, :len(flags)].tolist() == flags and not bool(verified[row, len(flags):].any())
    shown = rollout.off_policy
    assert torch.equal(verified[shown].sum(-1), rollout.mask[shown].sum(-1).long() - 1)  # all but EOS
