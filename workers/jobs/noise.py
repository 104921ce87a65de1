"""Label-noise detection: confident learning (cleanlab) on out-of-fold probabilities.

Every label that would train is checked by classifiers that never saw it (k-fold logistic
regression on the encoder's embeddings, not class-balanced, repeated on differently shuffled
folds and averaged);
cleanlab's filter (`both` by default, chosen by bench/curation.py on binary and 3-class data)
picks the labels they say are wrong. Suspected errors are flagged and sent back to people:
the record returns to the labeling pool, first in line.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from annotation.labels import training_labels
from annotation.services.assignment import record_requeue
from curator.algorithms import curation, learning
from curator.models import Job, NoiseFlag, Record, Split
from curator.models.records import payload_text
from workers.inference.encoder import get_encoder
from workers.jobs.embeddings import embeddings_ensure, embeddings_matrix
from workers.jobs.scores import scores_store
from workers.runtime import job_progress

QUALITY_KIND = "label_quality"


def noise_run(job: Job) -> dict[str, Any]:
    project = job.project
    params = job.params
    labels = training_labels(project)
    ids = sorted(labels)
    rows = dict(Record.objects.filter(pk__in=ids).values_list("id", "content_hash"))
    payloads = dict(Record.objects.filter(pk__in=ids).values_list("id", "payload"))
    field = project.settings_obj.text_field
    encoder = get_encoder(project.settings_obj.encoder_model)
    job_progress(job, done=0, total=len(ids), stage="embedding")
    embeddings_ensure([(rows[i], payload_text(payloads[i], field)) for i in ids], encoder)
    features = embeddings_matrix([rows[i] for i in ids], encoder.identity)
    given = [labels[i][1] for i in ids]
    job_progress(job, done=len(ids), total=len(ids), stage="cross-validating")
    filter_by = str(params.get("filter_by", curation.NOISE_FILTER))
    repeats = int(params.get("repeats", curation.NOISE_OOF_REPEATS))
    neighbours = int(params.get("neighbours", curation.NOISE_NEIGHBOURS))
    classes, probabilities = learning.out_of_fold_probabilities(
        features, given, folds=int(params.get("folds", 5)), seed=int(params.get("seed", 0)),
        repeats=repeats, neighbours=neighbours,
    )  # fmt: skip
    issues = curation.label_issues(given, classes, probabilities, filter_by)
    limit = params.get("limit")
    if limit is not None:
        issues = issues[: int(limit)]
    quality = probabilities[range(len(ids)), [classes.index(label) for label in given]]
    scores_store(round_=None, kind=QUALITY_KIND, model_identity=f"cleanlab-oof|{encoder.identity}",
                 job=job, record_ids=ids, values=quality.tolist())  # fmt: skip
    flagged = [ids[issue.index] for issue in issues]
    with transaction.atomic():
        NoiseFlag.objects.bulk_create(
            [
                NoiseFlag(
                    job=job,
                    record_id=ids[issue.index],
                    given_label=issue.given,
                    suggested_label=issue.suggested,
                    label_quality=issue.quality,
                )
                for issue in issues
            ],
            ignore_conflicts=True,  # a re-run flags nothing twice
        )
        if params.get("relabel", True):
            # Back to the pool so the queue serves them; their earlier label stays a vote.
            Record.objects.filter(pk__in=flagged).update(split=Split.POOL)
            for record in Record.objects.filter(pk__in=flagged):
                record_requeue(record)
    by_label: dict[str, int] = {}
    for issue in issues:
        by_label[issue.given] = by_label.get(issue.given, 0) + 1
    return {
        "examined": len(ids),
        "flagged": len(flagged),
        "flagged_share": len(flagged) / len(ids) if ids else 0.0,
        "flagged_by_given_label": by_label,
        "encoder": encoder.identity,
        "filter_by": filter_by,
        "oof_repeats": repeats,
        "neighbours": neighbours,
    }
