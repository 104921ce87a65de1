"""Readers for the public data sets the tests and benchmarks use (in ../shared/data).

The data is never copied into the project; these functions only know the files' formats and
quirks (see that folder's README) and turn them into the payloads curator imports.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# CURATOR_PUBLIC_DATA: another copy of that folder (a machine without ../shared, e.g. the GPU one).
DATA = Path(os.environ.get("CURATOR_PUBLIC_DATA") or ROOT.parent / "shared" / "data")
SST2_LABELS = {"0": "negative", "1": "positive"}
DAVIDSON_CLASSES = ("hate", "offensive", "neither")
FINAL_TURN = "\n\nAssistant:"


def sst2(split: str = "dev", limit: int | None = None) -> list[tuple[str, str]]:
    """(sentence, "negative" | "positive"); the TSV has unbalanced quotes, so no quoting."""
    rows = []
    with (DATA / "sst2" / f"{split}.tsv").open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        for sentence, label in reader:
            rows.append((sentence.strip(), SST2_LABELS[label]))
            if limit and len(rows) >= limit:
                break
    return rows


def tweets(limit: int | None = None) -> list[dict]:
    """Davidson et al. tweets: {"text", "votes": {class: n}, "label": majority class}."""
    rows = []
    with (DATA / "hate_speech_offensive" / "labeled_data.csv").open(
        encoding="utf-8", newline=""
    ) as handle:
        for row in csv.DictReader(handle):
            votes = {
                "hate": int(row["hate_speech"]),
                "offensive": int(row["offensive_language"]),
                "neither": int(row["neither"]),
            }
            rows.append(
                {"text": row["tweet"], "votes": votes, "label": DAVIDSON_CLASSES[int(row["class"])]}
            )
            if limit and len(rows) >= limit:
                break
    return rows


def alpaca(limit: int | None = None) -> list[dict]:
    """Alpaca instructions as {"prompt", "draft"}: the instruction (and its input), and the
    model-written output as a draft for people to correct."""
    records = json.loads((DATA / "alpaca_instructions" / "alpaca_5000.json").read_text("utf-8"))
    rows = []
    for record in records[:limit]:
        prompt = record["instruction"]
        if record["input"]:
            prompt += "\n\n" + record["input"]
        rows.append({"prompt": prompt, "draft": record["output"]})
    return rows


def hh_pairs(limit: int | None = None) -> list[dict]:
    """HH-RLHF harmless pairs as {"prompt", "response_a", "response_b", "preferred"}.

    The shared dialogue becomes the prompt and the two final assistant turns the responses,
    put in A or B alternately so that the preferred one is not always first. Pairs whose
    dialogues differ before the final turn (5 of 2,312) are left out.
    """
    rows = []
    with (DATA / "hh_rlhf_harmless" / "harmless_base_test.jsonl").open(encoding="utf-8") as f:
        for line in f:
            pair = json.loads(line)
            chosen, rejected = pair["chosen"], pair["rejected"]
            cut_c, cut_r = chosen.rfind(FINAL_TURN), rejected.rfind(FINAL_TURN)
            if chosen[:cut_c] != rejected[:cut_r]:
                continue
            prompt = chosen[:cut_c].strip()
            good = chosen[cut_c + len(FINAL_TURN) :].strip()
            bad = rejected[cut_r + len(FINAL_TURN) :].strip()
            if not good or not bad or good == bad:
                continue
            first = len(rows) % 2 == 0
            rows.append(
                {
                    "prompt": prompt,
                    "response_a": good if first else bad,
                    "response_b": bad if first else good,
                    "preferred": "a" if first else "b",
                }
            )
            if limit and len(rows) >= limit:
                break
    return rows
