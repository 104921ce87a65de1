"""The round classifier as a routing signal, and the evidence a routing threshold is chosen on.

The latest succeeded classifier round's snapshot is refitted with its probabilities calibrated
on held-out folds (`calibration.calibrated_classifier`: same data, same seed, same encoder, so
the same model every time). Records it trained on get out-of-fold probabilities, never the
model's own view of its training data, when they serve as evidence: those the fit computed
anyway, its fold models' view of the fold each never saw.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

import numpy as np

from annotation import task_types
from annotation.labels import training_labels
from annotation.models import Annotation, Source
from curator.algorithms import calibration
from curator.models import Project, Round, RoundSnapshotItem
from workers.inference.encoder import Encoder, get_encoder
from workers.jobs.embeddings import records_embedded

SEED = 0


@dataclass(frozen=True)
class ClassifierSignal:
    """The calibrated classifier of one round, with its columns put in the project's label order."""

    round_number: int
    encoder: Encoder
    model: calibration.CalibratedClassifier
    # For each project label (in `project.label_values` order) its column in the model, or -1.
    columns: tuple[int, ...]
    snapshot_ids: tuple[int, ...]  # the rows of `model.out_of_fold`

    def project_columns(self, probabilities: np.ndarray) -> np.ndarray:
        """Model columns to the project's label order; a label the round never saw gets a
        floor, then rows are renormalised."""
        out = np.full((len(probabilities), len(self.columns)), 1e-6)
        for index, column in enumerate(self.columns):
            if column >= 0:
                out[:, index] = probabilities[:, column]
        return out / out.sum(axis=1, keepdims=True)


def label_keys(project: Project) -> list[str]:
    """The vote key of each project label, in `project.label_values` order."""
    return [task_types.vote_key(project.task_type, value) for value in project.label_values]


def latest_classifier_round(project: Project) -> Round | None:
    return (
        Round.objects.filter(project=project, kind="classifier", status=Round.Status.SUCCEEDED)
        .exclude(model_artifact="")
        .order_by("-number")
        .first()
    )


def classifier_signal(project: Project) -> ClassifierSignal | None:
    """The latest classifier round as a calibrated signal; None when there is no such round,
    the project now embeds with another encoder, or the snapshot is too small to calibrate.
    Too small includes a label with fewer than four examples: the classifier is then one model
    without held-out folds, so there is no honest evidence to weigh it on (a routed pre-label
    job used to fail planning on it)."""
    round_ = latest_classifier_round(project)
    if round_ is None:
        return None
    encoder = get_encoder(project.setting("encoder_model"))
    if encoder.identity != round_.metrics.get("encoder"):
        return None
    try:
        signal = _fitted(round_.pk, round_.snapshot_sha256, encoder.identity)
    except ValueError:  # fewer than two examples of two labels
        return None
    return signal if signal.model.out_of_fold is not None else None


@functools.lru_cache(maxsize=4)
def _fitted(round_id: int, snapshot_sha256: str, encoder_identity: str) -> ClassifierSignal:
    """Fitted once per process and round: every chunk of a pre-label job routes with it.
    The snapshot hash is part of the key only so that a changed snapshot cannot be served."""
    round_ = Round.objects.select_related("project").get(pk=round_id)
    project = round_.project
    encoder = get_encoder(project.setting("encoder_model"))
    snapshot = list(
        RoundSnapshotItem.objects.filter(round=round_)
        .order_by("record_id")
        .values_list("record_id", "label")
    )
    ids = [pk for pk, _ in snapshot]
    labels = [label for _, label in snapshot]
    features = records_embedded(ids, project.settings_obj.text_field, encoder)
    model = calibration.calibrated_classifier(features, labels, seed=SEED)
    columns = tuple(
        model.labels.index(key) if key in model.labels else -1 for key in label_keys(project)
    )
    return ClassifierSignal(round_.number, encoder, model, columns, tuple(ids))


def classifier_probabilities(
    signal: ClassifierSignal, project: Project, record_ids: list[int]
) -> np.ndarray:
    """(records, project labels) calibrated probabilities of records the round did not train on."""
    features = records_embedded(record_ids, project.settings_obj.text_field, signal.encoder)
    return signal.project_columns(signal.model.predict_proba(features))


def honest_classifier_probabilities(
    signal: ClassifierSignal, project: Project, record_ids: list[int]
) -> np.ndarray:
    """Like `classifier_probabilities`, but a record the round trained on gets the probability
    of a fold that never saw it."""
    out = classifier_probabilities(signal, project, record_ids)
    trained = {pk: index for index, pk in enumerate(signal.snapshot_ids)}
    inside = [row for row, pk in enumerate(record_ids) if pk in trained]
    if not inside:
        return out
    folded = signal.model.out_of_fold
    if folded is None:  # one model on all the data: it has seen every training record
        raise ValueError("out-of-fold calibration needs at least four examples of each label")
    folded = signal.project_columns(folded)
    for row in inside:
        out[row] = folded[trained[record_ids[row]]]
    return out


def people_labeled_sample(
    project: Project, size: int, seed: int, exclude: set[int]
) -> list[tuple[int, str]]:
    """(record id, label) of up to `size` records people labeled (never an auto-accepted LLM
    label), drawn by seed: the evidence a pre-label job measures its signals on. Only labels
    given without a model suggestion on the card: those given with one lean towards it."""
    labels = training_labels(project)
    people = set(
        Annotation.objects.filter(
            pk__in=[annotation for annotation, _ in labels.values()],
            source__in=[Source.HUMAN, Source.REVIEW, Source.IMPORT],
            suggestion_accepted__isnull=True,
        ).values_list("pk", flat=True)
    )
    candidates = sorted(
        (pk, label) for pk, (annotation, label) in labels.items()
        if annotation in people and pk not in exclude
    )  # fmt: skip
    rng = random.Random(seed)
    return rng.sample(candidates, min(size, len(candidates)))
