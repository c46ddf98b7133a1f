"""entropic-train with backend=hf_tiny: presets and controllers through the loop, bad input, kill and resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from helpers import kill_then_resume
from hydra import compose, initialize_config_module
from llm_tiny import TINY
from omegaconf import DictConfig
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from entropic.experiment import build_trainer
from entropic.llm import HFBackend

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
OBJECTIVES = sorted(p.stem for p in (CONFIGS / "method").glob("*.yaml"))


def _override(name: str, value: object) -> str:
    if isinstance(value, dict):
        return f"backend.{name}={{{','.join(f'{k}:{v}' for k, v in value.items())}}}"
    return f"backend.{name}={json.dumps(value)}"


BACKEND = ["backend=hf_tiny", *(_override(name, value) for name, value in TINY.items())]
QUIET = ["trainer.tensorboard=false", "trainer.checkpoint_every=0", "trainer.eval_every=0"]


def _config(*overrides: str, backend: list[str] = BACKEND) -> DictConfig:
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        return compose(config_name="train", overrides=[*backend, *QUIET, *overrides])


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_every_objective_preset_trains_the_llm_in_micro_batches(objective: str, tmp_path: Path) -> None:
    overrides = [f"method={objective}", "trainer.steps=2", "trainer.ppo_micro_batch_size=5",
                 "backend.use_reference=true"]
    trainer = build_trainer(_config(*overrides), tmp_path)
    assert isinstance(trainer.backend, HFBackend)
    summary = trainer.fit(progress=False)
    assert math.isfinite(summary["final"]["actor/loss"]) and "eval/pass@1" in summary["final"]
    assert summary["final"]["entropy/mean"] > 0


def test_the_entropy_controller_drives_the_llm(tmp_path: Path) -> None:
    trainer = build_trainer(_config("method=entropy_bonus", "controller=pi_entropy_coeff", "trainer.steps=3",
                                    "controller.law.setpoint=1.0"), tmp_path)
    trainer.fit(progress=False)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    # the untrained model's entropy is near log V, above the setpoint: the coefficient turns negative
    assert all(row["entropy/mean"] > 1.0 and row["control/entropy_coeff"] < 0 for row in rows)


@pytest.mark.parametrize(("overrides", "message"), [
    (["num_runs=2"], r"num_runs=2: the LLM backend trains one run per process"),
    (["backend.max_new_tokens=0"], r"backend.max_new_tokens must be >= 1, got 0"),
    (["backend.task=algebra"], r"backend.task='algebra' is not a known task; allowed values: \['addition'"),
    (["backend.dtype=bfloat16"], r"backend.dtype=bfloat16 needs a GPU"),
    (["backend.top_p=0"], r"backend.top_p must be in \(0, 1\], got 0"),
    (["+backend.temprature=0.5"], r"backend.temprature is not a field of the LLM backend"),
    (["backend.entropy_estimator=top"], r"backend.entropy_estimator must be one of \['exact', 'sampled', 'topk'\]"),
    (["controller=pi_entropy_coeff", "method=entropy_bonus", "controller.law.setpoint=5.0"],
     r"above what this backend's policy can reach \(log of its vocabulary: 4.5951 nats\)"),
])
def test_bad_input_is_refused_naming_the_field(overrides: list[str], message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message):
        build_trainer(_config(*overrides), tmp_path)


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_bad_files_and_tokenizers_are_refused_naming_the_field(tmp_path: Path) -> None:
    def file_config(task: str, path: Path) -> DictConfig:
        backend = [line for line in BACKEND if not line.startswith("backend.task_args")]
        return _config(f"backend.task={task}", f"backend.task_args={{path:{path}}}", backend=backend)

    long = _write_jsonl(tmp_path / "long.jsonl", [{"prompt": "1+1=" * 200, "answer": "2"}] * 4)
    with pytest.raises(ValueError, match=r"a prompt of 801 tokens plus backend.max_new_tokens=5 exceeds the "
                                         r"model's context of 512"):
        build_trainer(file_config("file", long), tmp_path / "a")
    unnamed = _write_jsonl(tmp_path / "q.jsonl", [{"question": "1+1=", "answer": "2"}] * 4)
    with pytest.raises(ValueError, match=r"backend.task_args.prompt_field='prompt' is not a column"):
        build_trainer(file_config("math", unnamed), tmp_path / "b")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match=r"backend.task_args.path="):
        build_trainer(file_config("file", tmp_path / "empty.jsonl"), tmp_path / "c")
    bare = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"a": 0, "<unk>": 1}, "<unk>")))
    bare.save_pretrained(tmp_path / "bare")
    with pytest.raises(ValueError, match=r"backend.tokenizer: the tokenizer of .* has no EOS token"):
        build_trainer(_config(f"backend.tokenizer={tmp_path / 'bare'}"), tmp_path / "d")


ARGS = [*BACKEND, "trainer.steps=12", "trainer.checkpoint_every=2", "trainer.eval_every=5",
        "trainer.tensorboard=false", "method=dapo", "trainer.ppo_mini_batch_size=2", "seed=5"]


def test_sigkill_then_resume_reproduces_the_unbroken_llm_run(tmp_path: Path) -> None:
    expected, got = kill_then_resume(ARGS, steps=12, kill_after=7, directory=tmp_path)
    assert got == expected


def test_micro_batches_take_the_whole_mini_batch_step_on_the_llm(tmp_path: Path) -> None:
    """The LLM backend back-propagates the loop's token gradients per micro-batch: the update is the unsplit one."""
    overrides = ("method=entropy_bonus", "control.entropy_coeff=0.1",  # a gradient even where rewards are all 0
                 "objective.loss_agg_mode=seq-mean-token-mean", "trainer.steps=1",
                 "trainer.ppo_epochs=2", "trainer.ppo_mini_batch_size=2")
    trainers = [build_trainer(_config(*overrides, *extra), tmp_path / name)
                for name, extra in (("whole", ()), ("split", ("trainer.ppo_micro_batch_size=3",)))]
    start = [p.detach().double().clone() for p in trainers[0].backend.params]
    for trainer in trainers:
        trainer.backend.model.double()  # float64: the two summation orders agree to rounding
        trainer.run()
    rollout = trainers[1].backend.rollout()
    assert len(trainers[1]._micro_batches(rollout.select(next(trainers[1]._mini_batches(rollout))))) > 1
    moved = max(float((p.detach() - s).abs().max()) for p, s in zip(trainers[0].backend.params, start, strict=True))
    assert moved > 1e-5
    for whole, split in zip(trainers[0].backend.params, trainers[1].backend.params, strict=True):
        torch.testing.assert_close(split, whole, rtol=1e-9, atol=1e-12)
