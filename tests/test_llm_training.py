"""LoRA training of the bundled SmolLM2-135M with TRL (SFT, DPO, reward) and its evaluation.

Real model, real trainers, tiny data from ../shared/data: a handful of steps on a few short rows.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, set_seed

from curator import public_data
from curator.hashing import files_sha256
from workers.inference.llm import TransformersLLM
from workers.inference.llm_eval import (
    RewardModel,
    evaluate_variants,
    implicit_reward_margins,
    load_policy,
)
from workers.inference.llm_training import (
    TrainingConfig,
    TrainingHooks,
    TrainingProgress,
    last_complete_checkpoint,
    merge_adapter,
    resolve_base,
    train_dpo,
    train_reward,
    train_sft,
)

BASE = "bundled:SmolLM2-135M-Instruct"
TINY = TrainingConfig(
    lora_rank=8, lora_alpha=16, lora_dropout=0.0, target_modules=("q_proj", "v_proj"),
    learning_rate=1e-3, max_steps=4, max_length=160, per_device_batch_size=2, save_steps=2,
)  # fmt: skip


def short_instructions(n: int) -> list[dict[str, str]]:
    rows = [r for r in public_data.alpaca(400) if len(r["prompt"]) + len(r["draft"]) < 260]
    return [{"prompt": r["prompt"], "reference": r["draft"]} for r in rows[:n]]


def conversations(rows: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    return [
        [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["reference"]}]
        for r in rows
    ]


def short_pairs(n: int) -> list[dict[str, str]]:
    out = []
    for pair in public_data.hh_pairs():
        if len(pair["prompt"]) + max(len(pair["response_a"]), len(pair["response_b"])) < 260:
            good, bad = pair["response_a"], pair["response_b"]
            if pair["preferred"] == "b":
                good, bad = bad, good
            out.append({"prompt": pair["prompt"], "chosen": good, "rejected": bad})
    return out[:n]


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    rows = short_instructions(4)
    reports: list[TrainingProgress] = []
    started = time.monotonic()
    result = train_sft(
        conversations(rows), BASE, None, TINY, tmp_path_factory.mktemp("sft"),
        TrainingHooks(on_progress=reports.append),
    )  # fmt: skip
    print(f"SFT 4 steps: {time.monotonic() - started:.1f} s")
    return rows, result, reports


def test_sft_reports_each_step_and_writes_one_standard_adapter(sft_run) -> None:
    _, result, reports = sft_run
    assert result.status == "completed"
    assert [r.step for r in reports] == [1, 2, 3, 4]
    assert all(r.max_steps == 4 and r.loss > 0 for r in reports)
    assert [h["step"] for h in result.loss_history] == [1, 2, 3, 4]
    assert result.steps == 4 and result.rows == 4 and result.tokens_seen > 0
    adapter = Path(result.adapter_dir)
    assert result.adapter_sha256 == files_sha256(adapter)
    assert not list(adapter.parent.glob("checkpoint-*"))  # the adapter is the only artifact
    base = AutoModelForCausalLM.from_pretrained(resolve_base(BASE))
    loaded = PeftModel.from_pretrained(base, str(adapter))
    assert loaded.peft_config["default"].r == 8


def test_sft_raises_the_likelihood_of_its_rows_in_the_evaluation_table(sft_run) -> None:
    rows, result, _ = sft_run
    judge = TransformersLLM(resolve_base(BASE))
    started = time.monotonic()
    report = evaluate_variants(
        BASE, result.adapter_dir, gold=rows[:3], few_shot=rows[3:], judges=[judge],
        max_new_tokens=12, sample_size=2,
    )  # fmt: skip
    print(f"evaluation of 3 variants on 3 prompts: {time.monotonic() - started:.1f} s")
    assert [r.variant for r in report.rows] == ["base", "in_context", "candidate"]
    assert report.baseline == "base"
    assert report.row("candidate").mean_loglik > report.row("base").mean_loglik + 0.1
    for name in ("in_context", "candidate"):
        rate = report.row(name).win_rate
        assert rate.judged == 3
        assert rate.ci_low <= rate.win_rate <= rate.ci_high
    assert report.row("base").win_rate is None
    assert len(report.samples) == 2
    assert set(report.samples[0]) == {"prompt", "reference", "base", "in_context", "candidate"}


def test_next_round_continues_the_promoted_adapter(sft_run, tmp_path: Path) -> None:
    rows, first, _ = sft_run
    config = TrainingConfig(**{**TINY.as_dict(), "max_steps": 2, "lora_rank": 4})
    second = train_sft(conversations(rows), BASE, first.adapter_dir, config, tmp_path)
    parent = load_file(str(Path(first.adapter_dir) / "adapter_model.safetensors"))
    child = load_file(str(Path(second.adapter_dir) / "adapter_model.safetensors"))
    # Same LoRA over the same base (rank inherited from the parent), trained further.
    assert set(child) == set(parent)
    assert all(child[k].shape == parent[k].shape for k in parent)
    assert any(not torch.equal(child[k], parent[k]) for k in parent)


def test_merged_model_answers_like_base_plus_adapter(sft_run, tmp_path: Path) -> None:
    _, result, _ = sft_run
    sha = merge_adapter(BASE, result.adapter_dir, tmp_path / "merged")
    assert sha == files_sha256(tmp_path / "merged")
    ids = torch.tensor([[1, 504, 3458, 314, 253, 1345]])
    merged = AutoModelForCausalLM.from_pretrained(str(tmp_path / "merged")).eval()
    with_adapter = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(resolve_base(BASE)), result.adapter_dir
    ).eval()
    with torch.inference_mode():
        assert torch.allclose(merged(ids).logits, with_adapter(ids).logits, atol=1e-3)


def test_cancel_stops_between_steps_without_an_adapter(tmp_path: Path) -> None:
    seen: list[int] = []
    asked: list[int] = []
    config = TrainingConfig(**{**TINY.as_dict(), "max_steps": 6})
    result = train_sft(
        conversations(short_instructions(4)), BASE, None, config, tmp_path,
        TrainingHooks(
            on_progress=lambda p: seen.append(p.step),
            should_stop=lambda: asked.append(1) or len(asked) >= 2,  # asked after each step
        ),
    )  # fmt: skip
    assert result.status == "cancelled"
    assert result.steps == 2 and seen == [1, 2]
    assert result.adapter_dir is None and not (tmp_path / "adapter").exists()
    assert not (tmp_path / "result.json").exists()


def test_rerun_after_an_interrupted_run_resumes_to_the_same_adapter(tmp_path: Path) -> None:
    rows = conversations(short_instructions(4))
    whole = train_sft(rows, BASE, None, TINY, tmp_path / "whole")
    asked: list[int] = []
    stopped = train_sft(
        rows, BASE, None, TINY, tmp_path / "split",
        TrainingHooks(should_stop=lambda: asked.append(1) or len(asked) >= 2),
    )  # fmt: skip
    assert stopped.status == "cancelled" and stopped.steps == 2
    assert (tmp_path / "split" / "checkpoint-2").is_dir()
    resumed = train_sft(rows, BASE, None, TINY, tmp_path / "split")
    assert resumed.status == "completed" and resumed.resumed_from_step == 2
    assert resumed.steps == whole.steps == 4
    assert [d.name for d in (tmp_path / "split").iterdir() if d.is_dir()] == ["adapter"]
    assert [h["step"] for h in resumed.loss_history] == [1, 2, 3, 4]
    a = load_file(str(Path(whole.adapter_dir) / "adapter_model.safetensors"))
    b = load_file(str(Path(resumed.adapter_dir) / "adapter_model.safetensors"))
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    # A redelivered job after completion gets the same result without training again.
    assert train_sft(rows, BASE, None, TINY, tmp_path / "split") == resumed


def test_dpo_prefers_the_chosen_answers_it_was_trained_on(tmp_path: Path) -> None:
    pairs = short_pairs(4)
    config = TrainingConfig(**{**TINY.as_dict(), "max_steps": 6})
    started = time.monotonic()
    result = train_dpo(pairs, BASE, None, config, tmp_path)
    print(f"DPO 6 steps: {time.monotonic() - started:.1f} s")
    llm = load_policy(BASE, {"candidate": result.adapter_dir})
    margins = implicit_reward_margins(
        llm, "candidate", [p["prompt"] for p in pairs],
        [p["chosen"] for p in pairs], [p["rejected"] for p in pairs],
    )  # fmt: skip
    # Before training the implicit reward is 0 for every pair (policy == reference).
    assert (margins > 0).mean() >= 0.75
    assert margins.mean() > 0


def test_reward_model_ranks_chosen_above_rejected_more_often_after_training(
    tmp_path: Path,
) -> None:
    pairs = short_pairs(8)
    config = TrainingConfig(**{**TINY.as_dict(), "max_steps": 8, "max_length": 200})
    started = time.monotonic()
    result = train_reward(pairs, BASE, None, config, tmp_path)
    print(f"reward 8 steps: {time.monotonic() - started:.1f} s")
    trained = RewardModel(BASE, result.adapter_dir)
    prompts = [p["prompt"] for p in pairs]
    chosen, rejected = [p["chosen"] for p in pairs], [p["rejected"] for p in pairs]
    after = trained.scores(prompts, chosen) - trained.scores(prompts, rejected)
    # The same starting point training had: the seed, then a fresh one-output head.
    set_seed(config.seed)
    untrained = AutoModelForSequenceClassification.from_pretrained(
        resolve_base(BASE), num_labels=1
    ).eval()
    untrained.config.pad_token_id = trained.tokenizer.pad_token_id
    trained.model = untrained
    before = trained.scores(prompts, chosen) - trained.scores(prompts, rejected)
    assert np.mean(after > 0) > np.mean(before > 0)
    assert np.mean(after > 0) >= 0.75


def test_bad_rows_and_settings_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="row 1: the conversation must end"):
        train_sft(
            [
                [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
                [{"role": "user", "content": "no answer"}],
            ],
            BASE, None, TINY, tmp_path,
        )  # fmt: skip
    with pytest.raises(ValueError, match="row 0: missing rejected"):
        train_dpo([{"prompt": "p", "chosen": "c"}], BASE, None, TINY, tmp_path)
    with pytest.raises(ValueError, match="lora_rank must be at least 1"):
        TrainingConfig.from_settings({"lora_rank": 0})
    with pytest.raises(ValueError, match="unknown setting 'lr'"):
        TrainingConfig.from_settings({"lr": 0.1})
    assert not any(tmp_path.iterdir())


def test_a_checkpoint_left_half_written_by_a_killed_worker_is_skipped(tmp_path: Path) -> None:
    for step, finished in ((1, True), (2, True), (3, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if finished:
            (folder / "trainer_state.json").write_text("{}")
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    assert not (tmp_path / "checkpoint-3").exists()
    assert last_complete_checkpoint(tmp_path / "missing") is None
