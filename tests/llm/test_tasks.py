"""Text tasks of the LLM backend: arithmetic, reasoning-gym and local files, with their verifiers and errors."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from entropic.llm.tasks import TASKS, TextProblem, make_task
from entropic.tasks import TASKS as ARITHMETIC
from entropic.tasks import Verdict


@pytest.fixture
def hf_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The ``datasets`` module, offline and caching under ``tmp_path``."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    pytest.importorskip("math_verify")
    return datasets


@pytest.fixture
def rows() -> list[dict[str, Any]]:
    return [{"prompt": f"question {i}", "answer": str(i), "extra": i} for i in range(20)]


def write(datasets: Any, rows: list[dict[str, Any]], path: Path) -> str:
    """``rows`` as JSON lines or Parquet (by the suffix of ``path``)."""
    table = datasets.Dataset.from_list(rows)
    if path.suffix == ".parquet":
        table.to_parquet(str(path))
    else:
        table.to_json(str(path))
    return str(path)


def prompts(task: Any, split: str, size: int, seed: int = 0) -> list[str]:
    return [problem.prompt for problem in task.problems(split, size, seed)]


# ------------------------------------------------------------------ registry and arithmetic


def test_every_task_registers() -> None:
    assert {*ARITHMETIC, "reasoning_gym", "file", "math"} <= set(TASKS)


@pytest.mark.parametrize("name", ARITHMETIC)
def test_arithmetic_answers_verify_and_noisy_answers_do_not(name: str) -> None:
    task = make_task(name, {"num_digits": 2, "num_operands": 3})
    problems = task.problems("train", 200, seed=0)
    assert all(task.verify(p, p.answer).correct for p in problems)
    rng = random.Random(1)
    noisy = [task.verify(p, task.noisy_answer(p, rng, 1.0)).correct for p in problems]
    assert sum(noisy) < 0.05 * len(problems)


def test_make_task_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"backend\.task=.*allowed values"):
        make_task("no_such_task")
    with pytest.raises(ValueError, match=r"backend\.task_args"):
        make_task("addition", {"no_such_arg": 1})
    with pytest.raises(ValueError, match=r"backend\.task_args"):
        make_task("addition", {"num_digits": 0})


# ------------------------------------------------------------------ reasoning-gym


@pytest.fixture
def reasoning_gym() -> None:
    pytest.importorskip("reasoning_gym")


@pytest.mark.usefixtures("reasoning_gym")
def test_reasoning_gym_problems_are_reproducible_and_splits_and_seeds_differ() -> None:
    task = make_task("reasoning_gym", {"dataset": "chain_sum"})
    again = make_task("reasoning_gym", {"dataset": "chain_sum"})
    train = task.problems("train", 30, seed=3)
    assert train == again.problems("train", 30, seed=3)
    assert prompts(task, "eval", 30, seed=3) != [p.prompt for p in train]
    assert prompts(task, "train", 30, seed=4)[:-1] != [p.prompt for p in train][1:]
    assert all(p.data["question"] == p.prompt and p.data["answer"] == p.answer for p in train)


@pytest.mark.usefixtures("reasoning_gym")
@pytest.mark.parametrize("dataset", ["basic_arithmetic", "chain_sum", "leg_counting"])
def test_reasoning_gym_answers_verify_and_wrong_answers_do_not(dataset: str) -> None:
    task = make_task("reasoning_gym", {"dataset": dataset})
    for problem in task.problems("eval", 20, seed=0):
        assert task.verify(problem, problem.answer).correct
        assert task.verify(problem, f" {problem.answer}\n").correct
        wrong = task.verify(problem, str(int(problem.answer) + 1))
        assert wrong.well_formed and not wrong.correct
        assert task.verify(problem, None) == task.verify(problem, "  ") == Verdict(False, False)


@pytest.mark.usefixtures("reasoning_gym")
def test_reasoning_gym_config_reaches_the_generator() -> None:
    task = make_task("reasoning_gym", {"dataset": "chain_sum", "config": {"min_terms": 2, "max_terms": 2}})
    assert {p.data["metadata"]["num_terms"] for p in task.problems("train", 20, seed=0)} == {2}


@pytest.mark.usefixtures("reasoning_gym")
@pytest.mark.parametrize(("args", "match"), [
    ({"dataset": "chain_summ"}, r"backend\.task_args\.dataset=.*chain_sum"),
    ({"dataset": "chain_sum", "config": {"no_such_field": 1}}, r"backend\.task_args\.config.*min_terms"),
    ({"dataset": "chain_sum", "config": {"seed": 1}}, r"backend\.task_args\.config"),
    ({"dataset": "chain_sum", "config": {"min_terms": 0}}, r"backend\.task_args\.config.*positive"),
    ({"dataset": "graph_color"}, r"backend\.task_args\.dataset=.*reference answer"),
    ({}, r"backend\.task_args"),
])
def test_reasoning_gym_errors_name_the_field(args: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_task("reasoning_gym", args)


# ------------------------------------------------------------------ local files


def test_file_task_reads_jsonl_and_parquet_and_splits_disjointly(
        hf_datasets: Any, rows: list[dict[str, Any]], tmp_path: Path) -> None:
    jsonl = make_task("file", {"path": write(hf_datasets, rows, tmp_path / "rows.jsonl")})
    parquet = make_task("file", {"path": write(hf_datasets, rows, tmp_path / "rows.parquet")})
    train, held_out = prompts(jsonl, "train", 18), prompts(jsonl, "eval", 2)
    assert len(set(train)) == 18 and len(set(held_out)) == 2
    assert set(train) | set(held_out) == {row["prompt"] for row in rows}
    assert sorted(prompts(parquet, "train", 18)) == sorted(train)
    assert sorted(prompts(parquet, "eval", 2)) == sorted(held_out)
    problem = jsonl.problems("train", 1, seed=0)[0]
    assert problem.data == rows[problem.data["extra"]] and problem.answer == str(problem.data["extra"])


def test_file_task_eval_path_and_non_string_answers(
        hf_datasets: Any, rows: list[dict[str, Any]], tmp_path: Path) -> None:
    numbers = [{"question": row["prompt"], "solution": i} for i, row in enumerate(rows)]
    task = make_task("file", {"path": write(hf_datasets, numbers[:15], tmp_path / "train.jsonl"),
                              "eval_path": write(hf_datasets, numbers[15:], tmp_path / "eval.parquet"),
                              "prompt_field": "question", "answer_field": "solution"})
    assert sorted(prompts(task, "train", 15)) == sorted(row["prompt"] for row in rows[:15])
    assert sorted(p.answer for p in task.problems("eval", 5, seed=0)) == [str(i) for i in range(15, 20)]


def test_file_task_cycles_deterministically(hf_datasets: Any, rows: list[dict[str, Any]], tmp_path: Path) -> None:
    task = make_task("file", {"path": write(hf_datasets, rows, tmp_path / "rows.jsonl"), "eval_fraction": 0.25})
    pool = set(prompts(task, "eval", 5))
    drawn = prompts(task, "eval", 12, seed=7)
    assert drawn == prompts(task, "eval", 12, seed=7) != prompts(task, "eval", 12, seed=8)
    assert set(drawn[:5]) == set(drawn[5:10]) == pool and len(set(drawn[10:])) == 2
    assert max(Counter(drawn).values()) == 3


def test_exact_verifier(hf_datasets: Any, rows: list[dict[str, Any]], tmp_path: Path) -> None:
    task = make_task("file", {"path": write(hf_datasets, rows, tmp_path / "rows.jsonl"), "verifier": "exact"})
    problem = TextProblem("q", " 12 ")
    assert task.verify(problem, "12\n") == Verdict(True, True)
    assert task.verify(problem, "1 2") == Verdict(False, True)
    assert task.verify(problem, "\\boxed{12}") == Verdict(False, True)
    assert task.verify(problem, None) == task.verify(problem, " ") == Verdict(False, False)


@pytest.mark.parametrize(("gold", "response", "verdict"), [
    ("\\frac{1}{2}", "0.5", (True, True)),
    ("0.5", "$\\frac{1}{2}$", (True, True)),
    ("2", "so the answer is \\boxed{2}", (True, True)),
    ("x^2+1", "$1 + x^2$", (True, True)),
    ("2", "3", (False, True)),
    ("2", "no idea", (False, False)),
    ("2", None, (False, False)),
])
def test_math_verifier(hf_datasets: Any, rows: list[dict[str, Any]], tmp_path: Path,
                       gold: str, response: str | None, verdict: tuple[bool, bool]) -> None:
    path = write(hf_datasets, rows, tmp_path / "rows.jsonl")
    for task in (make_task("math", {"path": path}), make_task("file", {"path": path})):
        assert task.verify(TextProblem("q", gold), response) == Verdict(*verdict)


def test_math_task_fixes_its_verifier(hf_datasets: Any, rows: list[dict[str, Any]], tmp_path: Path) -> None:
    path = write(hf_datasets, rows, tmp_path / "rows.jsonl")
    assert make_task("math", {"path": path}).name == "math"
    with pytest.raises(ValueError, match=r"backend\.task_args.*verifier"):
        make_task("math", {"path": path, "verifier": "exact"})


def test_file_task_errors_name_the_field(hf_datasets: Any, rows: list[dict[str, Any]], tmp_path: Path) -> None:
    good = write(hf_datasets, rows, tmp_path / "rows.jsonl")
    (tmp_path / "empty.jsonl").touch()
    empty_parquet = write(hf_datasets, rows, tmp_path / "empty.parquet")
    hf_datasets.Dataset.from_list(rows).select([]).to_parquet(empty_parquet)
    bad_prompt = tmp_path / "bad_prompt.jsonl"
    bad_prompt.write_text('{"prompt": 1, "answer": "1"}\n{"prompt": "q", "answer": "2"}\n')
    no_answer = write(hf_datasets, [{"prompt": "q", "answer": None}, {"prompt": "r", "answer": "2"}],
                      tmp_path / "no_answer.jsonl")
    one_row = write(hf_datasets, rows[:1], tmp_path / "one.jsonl")
    (tmp_path / "rows.csv").write_text("prompt,answer\nq,1\n")
    cases = [
        ({"path": str(tmp_path / "rows.csv")}, r"backend\.task_args\.path=.*allowed: \['\.json', '\.jsonl', "),
        ({"path": str(tmp_path / "missing.jsonl")}, r"backend\.task_args\.path=.*no such file"),
        ({"path": str(tmp_path / "empty.jsonl")}, r"backend\.task_args\.path=.*empty"),
        ({"path": empty_parquet}, r"backend\.task_args\.path=.*empty"),
        ({"path": good, "prompt_field": "question"},
         r"backend\.task_args\.prompt_field=.*columns: \['prompt', 'answer', 'extra'\]"),
        ({"path": good, "answer_field": "solution"}, r"backend\.task_args\.answer_field=.*columns"),
        ({"path": str(bad_prompt)}, r"backend\.task_args\.prompt_field=.*row 0 .*not a string"),
        ({"path": no_answer}, r"backend\.task_args\.answer_field=.*row 0 .*no answer"),
        ({"path": good, "verifier": "fuzzy"}, r"backend\.task_args\.verifier=.*allowed: \['math', 'exact'\]"),
        ({"path": good, "eval_fraction": 0.0}, r"backend\.task_args\.eval_fraction"),
        ({"path": good, "eval_fraction": 1.5}, r"backend\.task_args\.eval_fraction"),
        ({"path": one_row}, r"backend\.task_args\.eval_fraction=.*no train rows"),
        ({"path": good, "eval_path": str(tmp_path / "missing.parquet")}, r"backend\.task_args\.eval_path=.*no such"),
        ({}, r"backend\.task_args"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            make_task("file", args)
