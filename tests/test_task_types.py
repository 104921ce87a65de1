"""The rules of each task type: what a label may be, how labels compare, how they export."""

import pytest
from django.core.exceptions import ValidationError

from annotation import task_types as t

TAGS = [{"value": "PER", "name": "Person"}, {"value": "ORG", "name": "Organisation"}]
TOPICS = [{"value": v, "name": v.title()} for v in ("politics", "sports", "economy")]
SCALE = [{"value": str(n), "name": f"{n}"} for n in range(1, 6)]


def test_multilabel_keeps_the_project_order_and_refuses_unknown_labels():
    assert t.clean_value(t.MULTILABEL, TOPICS, {}, ["economy", "politics"]) == [
        "politics",
        "economy",
    ]
    assert t.clean_value(t.MULTILABEL, TOPICS, {}, []) == []
    with pytest.raises(ValidationError, match="weather"):
        t.clean_value(t.MULTILABEL, TOPICS, {}, ["weather"])


def test_rating_is_a_point_of_the_scale():
    assert t.clean_value(t.RATING, SCALE, {}, "4") == 4
    for bad in ("6", "x", None, "2.5"):
        with pytest.raises(ValidationError):
            t.clean_value(t.RATING, SCALE, {}, bad)


def test_pairwise_choice_and_reason():
    value = t.clean_value(t.PAIRWISE, [], {}, {"choice": "B", "reason": " clearer "})
    assert value == {"choice": "b", "reason": "clearer"}
    with pytest.raises(ValidationError):
        t.clean_value(t.PAIRWISE, [], {}, {"choice": "c"})


def test_correction_keeps_the_draft_from_the_record_not_the_client():
    payload = {"prompt": "Say hi", "draft": "Helo"}
    value = t.clean_value(t.CORRECTION, [], payload, {"text": "Hello", "draft": "forged"})
    assert value == {"text": "Hello", "draft": "Helo", "edited": True}
    assert t.clean_value(t.CORRECTION, [], payload, {"text": "Helo"})["edited"] is False
    with pytest.raises(ValidationError):
        t.clean_value(t.CORRECTION, [], payload, {"text": "   "})


def test_spans_are_checked_against_the_text():
    text = "Alice works at Acme in Paris"
    spans = t.clean_value(
        t.SPAN, TAGS, {"text": text},
        [{"start": 15, "end": 19, "label": "ORG"}, {"start": 0, "end": 5, "label": "PER"}],
    )  # fmt: skip
    assert [s["text"] for s in spans] == ["Alice", "Acme"]
    for bad in (
        [{"start": 0, "end": 99, "label": "PER"}],
        [{"start": 0, "end": 5, "label": "LOC"}],
        [{"start": 0, "end": 5, "label": "PER"}, {"start": 3, "end": 8, "label": "ORG"}],
        "Alice",
    ):
        with pytest.raises(ValidationError):
            t.clean_value(t.SPAN, TAGS, {"text": text}, bad)


def test_span_agreement_units_are_tokens():
    text = "Alice works at Acme"
    spans = [{"start": 0, "end": 5, "label": "PER"}, {"start": 15, "end": 19, "label": "ORG"}]
    units = t.agreement_units(t.SPAN, TAGS, spans, text)
    assert units == [("0", "PER"), ("1", "O"), ("2", "O"), ("3", "ORG")]


def test_pairwise_exports_dpo_pairs_and_ties_have_none():
    payload = {"prompt": "Q", "response_a": "good", "response_b": "bad"}
    row = t.export_row(t.PAIRWISE, payload, {"choice": "b", "reason": ""})
    assert (row["prompt"], row["chosen"], row["rejected"]) == ("Q", "bad", "good")
    tie = t.export_row(t.PAIRWISE, payload, {"choice": "tie", "reason": "same"})
    assert tie["chosen"] is None and tie["rejected"] is None


def test_correction_exports_chat_messages():
    row = t.export_row(
        t.CORRECTION, {"prompt": "Say hi"}, {"text": "Hello!", "draft": "Helo", "edited": True}
    )
    assert row["messages"] == [
        {"role": "user", "content": "Say hi"},
        {"role": "assistant", "content": "Hello!"},
    ]
    assert row["draft"] == "Helo"


def test_vote_keys_ignore_what_does_not_change_the_label():
    a = {"choice": "a", "reason": "shorter"}
    b = {"choice": "a", "reason": "more polite"}
    assert t.same_value(t.PAIRWISE, a, b)
    assert not t.same_value(t.MULTILABEL, ["sports"], ["sports", "politics"])


def test_a_rating_scale_must_be_whole_increasing_numbers():
    t.check_labels(t.RATING, SCALE)
    with pytest.raises(ValidationError):
        t.check_labels(t.RATING, [{"value": "good"}, {"value": "bad"}])
    with pytest.raises(ValidationError):
        t.check_labels(t.RATING, [{"value": "3"}, {"value": "1"}])
