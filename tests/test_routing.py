"""Routing's auto-accept threshold: chosen from people's checks to keep a target precision, and
backed off when spot checks of what it auto-accepted fall below the target."""

from types import SimpleNamespace

import numpy as np
import pytest

from annotation.models import Annotation, Source
from curator import public_data
from curator.algorithms import calibration, routing
from curator.models import Job, Project, Record, RoutingDecision, Split
from curator.selectors import routing_stats
from tests.conftest import as_jsonl, sst2_rows
from tests.test_imports import run_import
from workers.inference.encoder import get_encoder
from workers.jobs import prelabel_routing, routing_signals

TARGET = 0.95
TRUTH = {row["text"]: row["label"] for row in sst2_rows("dev", 120)}


def test_threshold_chosen_on_checks_keeps_the_target_precision_on_new_records():
    """The round classifier (real embeddings of real hate/offensive/neither tweets), calibrated
    out of fold on 400 people's labels, routes 800 unseen tweets: what it auto-accepts is right
    at least about as often as the target, and it does accept a share (the gate fires).

    The target is 0.90 here: at 0.95 the 90% Wilson bound on 400 checks needs a run of about
    55 right answers at the top, which this classifier (0.84 accurate) rarely gives
    (bench/routing.py measures both targets on both data sets)."""
    target = 0.90
    rows = public_data.tweets(1200)
    x = get_encoder().encode([r["text"] for r in rows])
    labels = [r["label"] for r in rows]
    checked, unseen = slice(0, 400), slice(400, 1200)
    classes, folded = calibration.out_of_fold_calibrated(x[checked], labels[checked])
    truth = np.array([classes.index(label) for label in labels])
    choice = routing.choose_threshold(
        folded.max(axis=1), folded.argmax(axis=1) == truth[checked], target
    )
    assert choice.threshold is not None, choice.reason
    assert choice.lower_bound is not None and choice.lower_bound >= target
    model = calibration.calibrated_classifier(x[checked], labels[checked])
    probabilities = model.predict_proba(x[unseen])
    auto = probabilities.max(axis=1) >= choice.threshold
    precision = float((probabilities.argmax(axis=1)[auto] == truth[unseen][auto]).mean())
    accuracy = float((probabilities.argmax(axis=1) == truth[unseen]).mean())
    assert auto.mean() > 0.1, auto.mean()
    assert accuracy < target  # the classifier alone is not that good: the threshold selects
    assert precision >= target - 0.03, (precision, choice)


def test_threshold_rises_with_the_target_and_none_qualifies_when_checks_are_poor():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 2000)
    right = rng.random(2000) < confidence  # a calibrated model
    low = routing.choose_threshold(confidence, right, 0.85)
    high = routing.choose_threshold(confidence, right, 0.95)
    assert low.threshold is not None and high.threshold is not None
    assert low.threshold < high.threshold
    assert routing.choose_threshold(confidence, rng.random(2000) < 0.6, 0.95).threshold is None


def _synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Two overlapping classes in 8 dimensions: a classifier that is right often, not always."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8))
    signed = x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.8, size=n)
    return x, ["pos" if value > 0 else "neg" for value in signed]


def test_the_classifier_keeps_each_examples_held_out_probabilities_from_its_one_fit():
    """The routing evidence comes from the classifier's own fit: each training example's
    probabilities from the fold model that never saw it, the same numbers a separate
    out-of-fold run gives."""
    x, labels = _synthetic(160)
    model = calibration.calibrated_classifier(x, labels, seed=3)
    classes, folded = calibration.out_of_fold_calibrated(x, labels, seed=3)
    assert classes == model.labels == ["neg", "pos"]
    assert model.out_of_fold is not None
    np.testing.assert_allclose(model.out_of_fold, folded, rtol=0, atol=1e-12)
    target = np.array([classes.index(label) for label in labels])
    for fold_model, held_out in calibration._fold_models(x, target, 3, 5):
        expected = fold_model.predict_proba(x[held_out])
        np.testing.assert_allclose(model.out_of_fold[held_out], expected, rtol=0, atol=1e-12)
    # Not the averaged model's view of its own training data, which has seen every example.
    assert np.abs(model.out_of_fold - model.predict_proba(x)).max() > 0.01
    # A label with three examples: one model on all the data, so no held-out view exists.
    few = ["rare" if i < 3 else label for i, label in enumerate(labels)]
    assert calibration.calibrated_classifier(x, few, seed=3).out_of_fold is None
    with pytest.raises(ValueError, match="four examples"):
        calibration.out_of_fold_calibrated(x, few, seed=3)


def test_records_the_round_trained_on_get_its_held_out_probabilities(monkeypatch):
    """Evidence for the routing plan: a snapshot record gets the probabilities of the fold that
    never saw it (in the project's label order), any other record the classifier's."""
    x, labels = _synthetic(160)
    unseen = np.random.default_rng(1).normal(size=(4, 8))
    embedded = {pk: x[pk - 1] for pk in range(1, 161)} | {1000 + i: v for i, v in enumerate(unseen)}
    monkeypatch.setattr(
        routing_signals, "records_embedded",
        lambda ids, field, encoder: np.array([embedded[pk] for pk in ids]),
    )  # fmt: skip
    project = SimpleNamespace(settings_obj=SimpleNamespace(text_field="text"))
    seed = routing_signals.SEED
    model = calibration.calibrated_classifier(x, labels, seed=seed)
    # The project lists "pos" first: the model's columns are swapped into its order.
    signal = routing_signals.ClassifierSignal(1, None, model, (1, 0), tuple(range(1, 161)))
    ids = [5, 1000, 17, 1003, 160]
    out = routing_signals.honest_classifier_probabilities(signal, project, ids)
    _, folded = calibration.out_of_fold_calibrated(x, labels, seed=seed)
    np.testing.assert_allclose(out[[0, 2, 4]], folded[[4, 16, 159]][:, ::-1], rtol=0, atol=1e-12)
    new = model.predict_proba(unseen[[0, 3]])[:, ::-1]
    np.testing.assert_allclose(out[[1, 3]], new, rtol=0, atol=1e-12)

    # One model on all the data (a label with three examples): no honest view of its training
    # records, as before; records it never saw are still scored.
    few = ["rare" if i < 3 else label for i, label in enumerate(labels)]
    single = calibration.calibrated_classifier(x, few, seed=seed)
    signal = routing_signals.ClassifierSignal(1, None, single, (1, 0, 2), tuple(range(1, 161)))
    assert routing_signals.honest_classifier_probabilities(signal, project, [1000]).shape == (1, 3)
    with pytest.raises(ValueError, match="four examples"):
        routing_signals.honest_classifier_probabilities(signal, project, [1000, 5])


def test_a_round_too_small_for_held_out_folds_is_no_routing_signal(monkeypatch):
    """A label with three examples: the round's classifier is one model without folds, so
    there is no honest evidence to weigh it; the plan routes on the LLM alone instead of
    failing (a pooled pre-label job's planning used to raise)."""
    x, labels = _synthetic(160)
    encoder = SimpleNamespace(identity="enc")
    round_ = SimpleNamespace(pk=1, snapshot_sha256="s", metrics={"encoder": "enc"})
    monkeypatch.setattr(routing_signals, "latest_classifier_round", lambda project: round_)
    monkeypatch.setattr(routing_signals, "get_encoder", lambda name: encoder)
    project = SimpleNamespace(setting=lambda name: "enc")
    for few, expected in ((labels, True), (["rare"] * 3 + labels[3:], False)):
        model = calibration.calibrated_classifier(x, few, seed=routing_signals.SEED)
        signal = routing_signals.ClassifierSignal(1, encoder, model, (0, 1), tuple(range(160)))
        monkeypatch.setattr(routing_signals, "_fitted", lambda *key, signal=signal: signal)
        assert (routing_signals.classifier_signal(project) is not None) is expected


def _route_and_check(
    project: Project,
    job: Job,
    records: list[Record],
    confidence: float,
    right: bool,
    person,
    decision: str = RoutingDecision.Decision.SPOT_CHECK,
    shown: bool | None = None,
) -> None:
    """Checks of `records` at `confidence`, each labeled by a person (who saw the LLM's label
    on the card and accepted it or not when `shown` is set); the LLM's label is right or wrong
    as asked."""
    for record in records:
        truth = TRUTH[record.payload["text"]]
        said = truth if right else ("positive" if truth == "negative" else "negative")
        llm = Annotation.objects.create(
            record=record, project=project, value=said, source=Source.LLM, job=job,
            confidence=confidence,
        )  # fmt: skip
        RoutingDecision.objects.create(
            record=record, job=job, annotation=llm, decision=decision,
            label=said, confidence=confidence, threshold=0.9,
        )  # fmt: skip
        Annotation.objects.create(
            record=record, project=project, value=truth, source=Source.HUMAN, author=person,
            suggestion_accepted=shown,
        )  # fmt: skip


@pytest.mark.django_db
def test_labels_given_with_the_suggestion_shown_are_no_evidence(project, annotator):
    """Records sent to people showed the LLM's label on the card: people who accepted it would
    make the LLM look right, so only blind labels choose the threshold."""
    run_import(project, as_jsonl(sst2_rows("dev", 100), drop=("label",)))
    records = list(Record.objects.filter(project=project, split=Split.POOL).order_by("id"))
    job = Job.objects.create(project=project, kind=Job.Kind.PRELABEL, params={})
    params = {"routing_target_precision": 0.9, "auto_accept_threshold": None,
              "routing_evidence_size": 0, "seed": 0}  # fmt: skip
    human = RoutingDecision.Decision.HUMAN
    # 60 labels where the card showed the LLM's (right) label and people accepted it...
    _route_and_check(project, job, records[:60], 0.8, True, annotator, human, shown=True)
    assert prelabel_routing.routing_plan(project, params, score=None)["evidence"] == 0
    # ...and 40 blind checks at the same confidence, wrong half the time: the threshold stays
    # shut, where the accepted suggestions alone would have opened it at 0.8.
    _route_and_check(project, job, records[60:80], 0.8, True, annotator, human)
    _route_and_check(project, job, records[80:100], 0.8, False, annotator, human)
    plan = prelabel_routing.routing_plan(project, params, score=None)
    assert plan["evidence"] == 40 and plan["threshold"] is None, plan


@pytest.mark.django_db
def test_router_backs_off_when_spot_checks_fall_below_the_target(project, annotator):
    """On PostgreSQL: 60 spot checks right at 0.97 open the gate; 40 later ones mostly wrong
    close it (nothing auto-accepted), and the project page's figures say so."""
    run_import(project, as_jsonl(sst2_rows("dev", 120), drop=("label",)))
    records = list(Record.objects.filter(project=project, split=Split.POOL).order_by("id"))
    job = Job.objects.create(project=project, kind=Job.Kind.PRELABEL, params={})
    params = {"routing_target_precision": TARGET, "auto_accept_threshold": None,
              "routing_evidence_size": 0, "seed": 0}  # fmt: skip

    _route_and_check(project, job, records[:60], 0.97, right=True, person=annotator)
    opened = prelabel_routing.routing_plan(project, params, score=None)
    assert opened["threshold"] == 0.97, opened
    assert not opened.get("backoff")
    stats = routing_stats(project)
    assert stats["spot_checked"] == 60 and stats["spot_check_accuracy"] == 1.0
    assert stats["spot_check_interval"][0] >= TARGET

    _route_and_check(project, job, records[60:70], 0.97, right=True, person=annotator)
    _route_and_check(project, job, records[70:100], 0.97, right=False, person=annotator)
    closed = prelabel_routing.routing_plan(project, params, score=None)
    assert closed["threshold"] is None, closed
    assert closed["backoff"] is True
    assert "auto-accepting stopped" in closed["reason"]
    stats = routing_stats(project)
    assert stats["spot_checked"] == 100 and stats["spot_check_accuracy"] == 0.7

    # A fixed threshold is the admin's call: kept, with the measurement beside it.
    fixed = prelabel_routing.routing_plan(project, {**params, "auto_accept_threshold": 0.8}, None)
    assert fixed["threshold"] == 0.8 and fixed["choice"]["threshold"] is None
