"""Problems from a local JSONL or Parquet file, checked by math-verify or by exact match."""

from __future__ import annotations

import random
from functools import lru_cache
from pathlib import Path
from typing import Any

from entropic.llm.tasks.base import SPLITS, Split, TextProblem, register_task
from entropic.tasks import Verdict

FORMATS = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}
VERIFIERS = ("math", "exact")
SPLIT_SEED = 0


def load_rows(path: str, field: str) -> list[dict[str, Any]]:
    """The rows of the JSONL or Parquet file ``path``, named by the config field ``field`` in errors.

    Raises
    ------
    ValueError
        If the suffix is not one of :data:`FORMATS`, or the file is missing, unreadable or empty.
    """
    # datasets takes most of a second to import: imported when a file is read, not when tasks register.
    from datasets import load_dataset
    from datasets.exceptions import DatasetGenerationError

    file = Path(path)
    kind = FORMATS.get(file.suffix.lower())
    if kind is None:
        raise ValueError(f"{field}={path!r}: unknown suffix {file.suffix!r}; allowed: {sorted(FORMATS)}")
    if not file.is_file():
        raise ValueError(f"{field}={path!r}: no such file")
    try:
        dataset = load_dataset(kind, data_files=str(file), split="train")
    except (StopIteration, ValueError, DatasetGenerationError) as error:
        raise ValueError(f"{field}={path!r}: cannot read it as {kind} (empty or malformed): {error!r}") from error
    if len(dataset) == 0:
        raise ValueError(f"{field}={path!r}: the file is empty")
    return dataset.to_list()


def to_problems(rows: list[dict[str, Any]], path: str, prompt_field: str, answer_field: str) -> list[TextProblem]:
    """One problem per row of the file ``path`` (``data``: the row); answers that are not strings become ``str``.

    Raises
    ------
    ValueError
        If a column is missing, a prompt is not a string or an answer is null.
    """
    for field, column in (("prompt_field", prompt_field), ("answer_field", answer_field)):
        if column not in rows[0]:
            raise ValueError(f"backend.task_args.{field}={column!r} is not a column of {path!r}; "
                             f"columns: {list(rows[0])}")
    problems = []
    for index, row in enumerate(rows):
        prompt, answer = row[prompt_field], row[answer_field]
        if not isinstance(prompt, str):
            raise ValueError(f"backend.task_args.prompt_field={prompt_field!r}: row {index} of {path!r} holds "
                             f"{prompt!r}, not a string")
        if answer is None:
            raise ValueError(f"backend.task_args.answer_field={answer_field!r}: row {index} of {path!r} has no answer")
        problems.append(TextProblem(prompt, str(answer), row))
    return problems


@lru_cache(maxsize=65536)
def parse_gold(answer: str) -> list[Any]:
    """math-verify's parse of the reference ``answer``, wrapped in ``$...$`` unless it holds a ``$``.

    Without the delimiters, LaTeX such as ``x^2+1`` is not extracted at all.
    """
    from math_verify import parse

    return parse(answer if "$" in answer else f"${answer}$")


def math_verdict(answer: str, response: str | None) -> Verdict:
    """math-verify's verdict on ``response`` for the reference ``answer``.

    ``verify(gold, target)`` is not symmetric: the gold is the parsed reference answer, the target the parsed
    response. Well formed iff parse extracts something from the response (a ``\\boxed{}``, a ``$...$`` or a
    plain number); correct iff ``verify`` returns ``True``. The answer is the text of the first parsed
    expression (math-verify's sympy form), so ``0.50`` and ``0.5`` are one answer.
    """
    from math_verify import parse, verify

    target = parse(response) if response is not None else []
    return Verdict(correct=bool(target) and verify(parse_gold(answer), target) is True, well_formed=bool(target),
                   answer=str(target[0]) if target else None)


def exact_verdict(answer: str, response: str | None) -> Verdict:
    """Correct iff ``response`` equals ``answer`` up to surrounding whitespace; well formed iff not blank. The
    answer is the stripped response."""
    if response is None or not response.strip():
        return Verdict(correct=False, well_formed=False)
    return Verdict(correct=response.strip() == answer.strip(), well_formed=True, answer=response.strip())


@register_task("file")
class FileTask:
    """Prompt/answer rows of a local JSONL or Parquet file.

    ``eval`` is the file ``eval_path`` or, without one, the last ``eval_fraction`` of the rows after a
    shuffle seeded with :data:`SPLIT_SEED` (fixed, so the split does not move with the run seed); ``train``
    is the rest. Math-verify needs the main thread (it times out by ``signal.alarm``).

    Parameters
    ----------
    path : str
        The file; ``.jsonl``/``.json`` is read as JSON lines, ``.parquet`` as Parquet.
    prompt_field, answer_field : str
        Columns of the prompt (strings) and the reference answer.
    eval_fraction : float
        Share of the rows held out for ``eval``, in (0, 1); unused with ``eval_path``.
    eval_path : str | None
        A file of ``eval`` problems, with the same columns.
    verifier : str
        ``"math"``: math-verify (:func:`math_verdict`); ``"exact"``: string match (:func:`exact_verdict`).

    Raises
    ------
    ValueError
        Before reading anything for a bad ``verifier`` or ``eval_fraction``; then for a bad file, a missing
        column, a non-string prompt, or a split left empty. The message names the field.
    """

    name = "file"

    def __init__(self, path: str, prompt_field: str = "prompt", answer_field: str = "answer",
                 eval_fraction: float = 0.1, eval_path: str | None = None, verifier: str = "math") -> None:
        if verifier not in VERIFIERS:
            raise ValueError(f"backend.task_args.verifier={verifier!r} is not a verifier; allowed: {list(VERIFIERS)}")
        if eval_path is None and not 0 < eval_fraction < 1:
            raise ValueError(f"backend.task_args.eval_fraction={eval_fraction!r} must lie in (0, 1)")
        self.verifier = verifier
        rows = to_problems(load_rows(path, "backend.task_args.path"), path, prompt_field, answer_field)
        if eval_path is None:
            order = list(range(len(rows)))
            random.Random(SPLIT_SEED).shuffle(order)
            num_eval = max(1, round(eval_fraction * len(rows)))
            if num_eval >= len(rows):
                raise ValueError(f"backend.task_args.eval_fraction={eval_fraction!r} leaves no train rows of the "
                                 f"{len(rows)} in {path!r}")
            train = [rows[i] for i in order[:-num_eval]]
            held_out = [rows[i] for i in order[-num_eval:]]
        else:
            train = rows
            held_out = to_problems(load_rows(eval_path, "backend.task_args.eval_path"), eval_path, prompt_field,
                                   answer_field)
        self.splits: dict[str, list[TextProblem]] = dict(zip(SPLITS, (train, held_out), strict=True))

    def problems(self, split: Split, size: int, seed: int) -> list[TextProblem]:
        """``size`` problems of ``split`` in an order seeded by ``seed``, without repeats while ``size`` does not
        exceed the split; beyond it, the draw cycles through fresh seeded permutations of the whole split."""
        pool = self.splits[split]
        rng = random.Random(seed)
        order: list[int] = []
        while size - len(order) >= len(pool):
            order += rng.sample(range(len(pool)), len(pool))
        order += rng.sample(range(len(pool)), size - len(order))
        return [pool[i] for i in order]

    def verify(self, problem: TextProblem, response: str | None) -> Verdict:
        verdict = math_verdict if self.verifier == "math" else exact_verdict
        return verdict(problem.answer, response)


@register_task("math")
class MathTask(FileTask):
    """A :class:`FileTask` whose responses are checked by math-verify (:func:`math_verdict`)."""

    name = "math"

    def __init__(self, path: str, prompt_field: str = "prompt", answer_field: str = "answer",
                 eval_fraction: float = 0.1, eval_path: str | None = None) -> None:
        super().__init__(path, prompt_field, answer_field, eval_fraction, eval_path, verifier="math")
