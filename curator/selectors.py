"""Reads for screens and the API. No writes here."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from django.core.cache import cache
from django.db.models import Count, QuerySet
from django.utils.safestring import mark_safe
from rest_framework.authtoken.models import Token

from annotation import task_types
from annotation.labels import TRAINABLE_REVIEW
from annotation.models import OFFENSIVE_SKIP, Annotation, Assignment, Source
from annotation.selectors import waiting_count
from curator import charts, job_kinds
from curator.algorithms import routing
from curator.models import (
    Job,
    LineageEdge,
    Project,
    Record,
    Round,
    RoundSnapshotItem,
    RoutingDecision,
    Score,
    Split,
    User,
)
from curator.models.records import BATCH_SCORE_KINDS, CURATOR_HOLD_REASON, payload_text
from curator.models.rows import columns, from_row, prepared_cursor, width


def user_api_token(user: User) -> Token | None:
    """The user's API token, expired or not (the account page says which)."""
    return Token.objects.filter(user=user).first()


def projects_for(user: User) -> QuerySet[Project]:
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


OVERVIEW_SECONDS = 15


def project_overview(project: Project) -> dict[str, Any]:
    """Record and label counts for the project page, cached for a few seconds: on a 1M-record
    project each count is a scan, and the page is opened far more often than data changes."""
    key = f"overview:{project.pk}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    splits = dict(
        Record.objects.filter(project=project)
        .values_list("split")
        .annotate(n=Count("id"))
        .values_list("split", "n")
    )
    human = Annotation.objects.filter(project=project, source=Source.HUMAN)
    overview = {
        "records": sum(splits.values()),
        "splits": {split: splits.get(split, 0) for split in Split.values},
        # Distinct over an integer column; never over JSON.
        "human_labeled": human.values("record_id").distinct().count(),
        "human_labels": human.count(),
        "waiting": waiting_count(project),
    }
    cache.set(key, overview, OVERVIEW_SECONDS)
    return overview


def recent_jobs(project: Project, limit: int = 10) -> QuerySet[Job]:
    return Job.objects.filter(project=project).select_related("round").order_by("-id")[:limit]


def jobs_of(
    project: Project, *, kind: str = "", status: str = "", before: int = 0
) -> QuerySet[Job]:
    """The project's jobs, newest first, optionally of one kind and one status; `before` is the
    keyset cursor (a job id) of the next page."""
    jobs = Job.objects.filter(project=project).select_related("round", "project")
    if kind:
        jobs = jobs.filter(kind=kind)
    if status:
        jobs = jobs.filter(status=status)
    if before:
        jobs = jobs.filter(pk__lt=before)
    return jobs.order_by("-id")


def job_records(job: Job, *, after: int = 0) -> QuerySet[Record]:
    """The records a job wrote or judged (imported, generated, scored, routed, flagged), by id;
    none for a kind that keeps no records of its own."""
    via = job_kinds.get(job.kind).records_via if job_kinds.exists(job.kind) else ""
    if not via:
        return Record.objects.none()
    # An id subquery rather than a join: a job may have scored a record more than once.
    ids = Record.objects.filter(**{via: job}).values("pk")
    return Record.objects.filter(project_id=job.project_id, pk__in=ids, pk__gt=after).order_by("id")


def rounds_of(project: Project) -> QuerySet[Round]:
    return Round.objects.filter(project=project).order_by("-number")


def active_round(project: Project) -> Round | None:
    return (
        Round.objects.filter(
            project=project, status__in=[Round.Status.QUEUED, Round.Status.RUNNING]
        )
        .order_by("-number")
        .first()
    )


def round_snapshot_page(
    round_: Round, after_id: int = 0, limit: int = 100
) -> list[Mapping[str, Any]]:
    """Keyset page of a round's training snapshot, in record order."""
    return list(
        round_.snapshot_items.filter(record_id__gt=after_id)
        .order_by("record_id")
        .values(
            "record_id",
            "label",
            "annotation_id",
            "record__payload",
            "annotation__source",
            "annotation__value",
        )[:limit]
    )


def routing_checked(
    project: Project, decisions: tuple[str, ...], limit: int | None = None
) -> list[tuple[int, float, bool]]:
    """(record id, routed confidence, model label right) of routed records people labeled, newest
    first: spot checks measure what was auto-accepted, records sent to people measure below the
    threshold. The latest blind human label of a record is the truth: a label given with the
    model's suggestion on the card (accepted or overridden) leans towards it, and would make
    the model look better than it is."""
    routed = RoutingDecision.objects.filter(record__project=project, decision__in=decisions)
    blind = Annotation.objects.filter(source=Source.HUMAN, suggestion_accepted__isnull=True)
    rows = list(
        routed.order_by("-id").values_list("record_id", "label", "confidence")
        .filter(record__in=blind.values("record"))[:limit]
    )  # fmt: skip
    human = dict(
        blind.filter(record__in=[r for r, _, _ in rows])
        .order_by("record_id", "id")
        .values_list("record_id", "value")
    )  # the latest human label per record wins in the dict
    return [
        (record, confidence, label == task_types.vote_key(project.task_type, human[record]))
        for record, label, confidence in rows
    ]


def routing_stats(project: Project) -> dict[str, Any]:
    """What LLM routing saved and how accurate its auto-accepted labels are on spot checks.

    A spot check is a confident LLM label that people labeled anyway; its accuracy (with a
    Wilson interval) estimates the accuracy of the auto-accepted labels nobody looks at. The
    latest pre-label job says which threshold routes now and why.
    """
    decisions = RoutingDecision.objects.filter(record__project=project)
    counts = dict(
        decisions.values_list("decision").annotate(n=Count("id")).values_list("decision", "n")
    )
    checked = routing_checked(project, (RoutingDecision.Decision.SPOT_CHECK,))
    correct = sum(right for _, _, right in checked)
    interval = routing.wilson_interval(correct, len(checked)) if checked else None
    latest = (
        Job.objects.filter(project=project, kind=Job.Kind.PRELABEL, status=Job.Status.SUCCEEDED)
        .order_by("-id")
        .values_list("params", flat=True)
        .first()
    ) or {}
    return {
        "auto": counts.get(RoutingDecision.Decision.AUTO, 0),
        "spot_check": counts.get(RoutingDecision.Decision.SPOT_CHECK, 0),
        "human": counts.get(RoutingDecision.Decision.HUMAN, 0),
        "spot_checked": len(checked),
        "spot_check_accuracy": correct / len(checked) if checked else None,
        "spot_check_interval": interval,
        "target_precision": project.setting("routing_target_precision"),
        "threshold": latest.get("auto_accept_threshold"),
        "threshold_reason": (latest.get("routing") or {}).get("reason", ""),
        "held": Record.objects.filter(project=project, held=True).count(),
    }


def toxicity_decisions(project: Project) -> dict[int, bool]:
    """record id -> whether people called it toxic: a curator's hold (True) or clear (False),
    an annotator's "offensive" skip (True). A curator's clear overrules a skip."""
    decisions = dict.fromkeys(
        Assignment.objects.filter(
            project=project, state=Assignment.State.SKIPPED, skip_reason=OFFENSIVE_SKIP
        ).values_list("record_id", flat=True),
        True,
    )
    records = Record.objects.filter(project=project)
    decisions.update(
        dict.fromkeys(
            records.filter(held=True, held_reason=CURATOR_HOLD_REASON).values_list("id", flat=True),
            True,
        )
    )
    decisions.update(
        dict.fromkeys(
            records.filter(held=False, hold_cleared_by__isnull=False).values_list("id", flat=True),
            False,
        )
    )
    return decisions


def training_prompts(project: Project) -> dict[int, str]:
    """record id -> prompt: the first record of each distinct prompt of the pool and train
    split that may train. Gold prompts never: what is made from these prompts (generated items,
    self-rewarding pairs) trains, and gold must stay out of training."""
    gold = set(
        project.records.filter(split=Split.GOLD, payload__has_key="prompt").values_list(
            "payload__prompt", flat=True
        )
    )
    candidates = (
        project.records.filter(
            split__in=[Split.POOL, Split.TRAIN],
            payload__has_key="prompt",
            held=False,
            filtered_by__isnull=True,
            review__in=TRAINABLE_REVIEW,
        )
        .order_by("id")
        .values_list("id", "payload__prompt")
    )
    first: dict[str, int] = {}
    for pk, prompt in candidates.iterator(chunk_size=5000):
        if isinstance(prompt, str) and prompt.strip() and prompt not in gold:
            first.setdefault(prompt, pk)
    return {pk: prompt for prompt, pk in first.items()}


def batch_item(record: Record) -> dict[str, Any]:
    return batch_items_for([record])[0]


def batch_items(job: Job, state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """A generated batch's items with their seed, intended label and scores, for review."""
    records = Record.objects.filter(created_by_job=job).order_by("id")
    if state:
        records = records.filter(review=state)
    return batch_items_for(list(records[:limit]))


def batch_items_for(records: list[Record]) -> list[dict[str, Any]]:
    ids = [record.pk for record in records]
    scores: dict[int, dict[str, float]] = {}
    for record_id, kind, value in Score.objects.filter(
        record_id__in=ids, kind__in=BATCH_SCORE_KINDS
    ).values_list("record_id", "kind", "value"):
        scores.setdefault(record_id, {})[kind] = value
    # The generator's intended label: its own job's LLM annotation (a later judge job may add
    # verdicts on the same records).
    made_by = {record.pk: record.created_by_job_id for record in records}
    intended = {
        record_id: value
        for record_id, job_id, value in Annotation.objects.filter(
            record_id__in=ids, source=Source.LLM
        )
        .order_by("id")
        .values_list("record_id", "job_id", "value")
        if job_id == made_by[record_id]
    }
    parents = dict(
        LineageEdge.objects.filter(child_id__in=ids).values_list("child_id", "parent_id")
    )
    parent_payloads = dict(
        Record.objects.filter(pk__in=set(parents.values())).values_list("id", "payload")
    )
    # The label each approved item trains with (a curator may have corrected a response).
    final = dict(
        Annotation.objects.filter(record_id__in=ids, source=Source.REVIEW)
        .order_by("id")
        .values_list("record_id", "value")
    )
    items = []
    for record in records:
        project = record.project
        field = project.settings_obj.text_field
        parent = parents.get(record.pk)
        given = intended.get(record.pk)
        key = task_types.vote_key(project.task_type, given) if given is not None else None
        pair = _pair_of(record.payload)
        instruction = _instruction_of(record.payload, project.task_type, final.get(record.pk))
        if pair:
            # A generated pair shows its prompt and both answers; an edit rewrites the answer
            # its intended choice picks.
            edit_text = pair.get(f"response_{key}", "")
        elif instruction:
            edit_text = instruction["response"]  # an edit corrects the response
        else:
            edit_text = record.text(field)
        items.append(
            {
                "record": record,
                "text": record.text(field),
                "pair": pair,
                # A generated instruction item shows its prompt, the LLM's response and, once
                # approved, the response it trains with.
                "instruction": instruction,
                "edit_text": edit_text,
                "intended": key if pair or instruction else given,
                "scores": scores.get(record.pk, {}),
                "parent_id": parent,
                "parent_text": payload_text(
                    parent_payloads.get(parent, {}) if parent is not None else {},
                    "prompt" if pair or instruction else field,
                ),
            }
        )
    return items


def _instruction_of(payload: Any, task_type: str, final: Any) -> dict[str, str] | None:
    if task_types.get(task_type).generation != task_types.PROMPT_RESPONSE:
        return None
    return {
        "prompt": payload_text(payload, "prompt"),
        "response": payload_text(payload, "draft"),
        "final": task_types.vote_key(task_type, final) if final is not None else "",
    }


def _pair_of(payload: Any) -> dict[str, str] | None:
    fields = ("prompt", "response_a", "response_b")
    if not isinstance(payload, dict) or not all(f in payload for f in fields[1:]):
        return None
    return {f: payload_text(payload, f) for f in fields}


def batch_label_options(project: Project) -> list[dict[str, str]]:
    """What a curator may give an item instead of its intended label: the project's labels,
    or a pair's choices."""
    if project.labels:
        return list(project.labels)
    options = task_types.get(project.task_type).settle_options(project.labels)
    return [{"value": value, "name": name} for value, name in options]


PLATEAU_GAIN = 0.005  # gold accuracy gained per round below which the flywheel has stalled


def rounds_dashboard(project: Project) -> dict[str, Any]:
    """Per finished round: gold quality, human labels used, labels by source, label mix and
    duration; with a plateau warning when the last rounds stopped improving."""
    rounds = list(
        Round.objects.filter(project=project, status=Round.Status.SUCCEEDED).order_by("number")
    )
    by_source: dict[int, dict[str, int]] = {}
    for round_id, source, count in (
        RoundSnapshotItem.objects.filter(round__in=rounds)
        .values_list("round_id", "annotation__source")
        .annotate(n=Count("id"))
        .values_list("round_id", "annotation__source", "n")
    ):
        by_source.setdefault(round_id, {})[source] = count
    rows = []
    for round_ in rounds:
        sources = by_source.get(round_.pk, {})
        rows.append(
            {
                "number": round_.number,
                "accuracy": round_.metrics.get("accuracy"),
                "macro_f1": round_.metrics.get("macro_f1"),
                "human_labels": sources.get(Source.HUMAN, 0) + sources.get(Source.REVIEW, 0),
                "sources": sources,
                "labels": round_.metrics.get("train_label_counts", {}),
                "seconds": (round_.metrics.get("timings") or {}).get("total_seconds"),
            }
        )
    scored = [r for r in rows if r["accuracy"] is not None]
    plateau = len(scored) >= 3 and all(
        later["accuracy"] - earlier["accuracy"] < PLATEAU_GAIN
        for earlier, later in itertools.pairwise(scored[-3:])
    )
    names = [f"R{r['number']}" for r in rows]
    all_sources = sorted({s for r in rows for s in r["sources"]})
    all_labels = sorted({label for r in rows for label in r["labels"]})
    charts_svg = [
        charts.line_chart(
            "Gold accuracy against human labels used",
            [(r["human_labels"], r["accuracy"]) for r in scored],
            "human labels",
            "accuracy",
        ),
        charts.stacked_bars(
            "Training labels by source",
            names,
            {s: [r["sources"].get(s, 0) for r in rows] for s in all_sources},
        ),
        charts.stacked_bars(
            "Training labels by label",
            names,
            {label: [r["labels"].get(label, 0) for r in rows] for label in all_labels},
        ),
        charts.stacked_bars(
            "Time per round",
            names,
            {"seconds": [r["seconds"] or 0 for r in rows]},
            unit=" s",
        ),
    ]
    numbers = [r["number"] for r in rows]
    return {
        "rows": rows,
        "plateau": plateau,
        "diffs": list(itertools.pairwise(numbers)),
        "charts": [mark_safe(svg) for svg in charts_svg],  # noqa: S308 - escaped in charts
    }


def api_token_with_user(key: str) -> Token | None:
    """The API token `key` with its user loaded, or None. Every API call reads it, so the
    statement is written out once rather than compiled by the ORM each time."""
    with prepared_cursor() as cursor:
        cursor.execute(_TOKEN_STATEMENT, [key])
        row = cursor.fetchone()
    if row is None:
        return None
    token = from_row(Token, row[: width(Token)])
    token.user = from_row(User, row[width(Token) :])
    return token


_TOKEN_STATEMENT = f"""
    SELECT {columns(Token, "t")}, {columns(User, "u")}
    FROM {Token._meta.db_table} t JOIN {User._meta.db_table} u ON u.id = t.user_id
    WHERE t.key = %s
"""  # noqa: S608 - table and column names from model metadata, the key is a parameter
