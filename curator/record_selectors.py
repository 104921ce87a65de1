"""The data manager's reads: a project's records, filtered, searched, sorted and keyset-paged.

Every filter is a condition on the record row or an EXISTS over one related table, so filters
combine freely and a page never joins a record twice. Paging is by keyset on (sort key, id):
a page costs the same on page 1 and page 20,000, and rows inserted meanwhile never shift it.
Full-text search uses PostgreSQL's tsvector over the payload's strings (a GIN index, migration
curator 0009); SQLite, which the demo runs on, falls back to a substring match.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchVectorField
from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    TextField,
    Value,
)
from django.db.models.functions import Cast

from annotation import task_types
from annotation.models import Annotation, Comment, RecordAssignee, Source
from annotation.selectors import waiting_condition
from curator.models import (
    NoiseFlag,
    Project,
    Record,
    Round,
    RoundSnapshotItem,
    RoutingDecision,
    Score,
    User,
)
from curator.models.records import BATCH_SCORE_KINDS
from curator.permissions import Action, can

PAGE_SIZE = 50
MAX_ID = 2**63 - 1  # a bigint: larger ids are refused before they reach the database
# Counting a filter exactly on 1M records is a scan of every match; past this we say "1000+"
# (a bulk action on the filtered set still acts on all of them).
COUNT_CAP = 1_000

# What a record's state is, as the data manager's "status" filter names it.
STATUSES = {
    "unlabeled": "No label yet",
    "labeled": "Labeled (people, review, import or auto-accepted LLM)",
    "waiting": "Waiting in the queue",
    "filtered": "Dropped by a filter run",
}
AGREEMENT = {
    "single": "Labeled by one person",
    "multiple": "Labeled by two people or more",
    "disagree": "People disagree",
}
# The sampling score every record carries on its row, and the kinds of Score rows.
PRIORITY = "priority"
SCORE_KINDS = (PRIORITY, *BATCH_SCORE_KINDS)
LABEL_SOURCES = (Source.HUMAN, Source.REVIEW, Source.IMPORT)


class PayloadVector(Func):
    """The tsvector of every string in the payload. Written exactly as the index expression of
    migration curator 0009_data_manager_indexes, which is what lets PostgreSQL use the index."""

    template = "jsonb_to_tsvector('english'::regconfig, %(expressions)s, '[\"string\"]'::jsonb)"
    output_field = SearchVectorField()


@dataclass(frozen=True)
class ScoreRange:
    kind: str
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class RecordFilters:
    """What the data manager shows; every field empty shows every record."""

    q: str = ""
    status: str = ""
    label: str = ""
    source: str = ""  # the label's source (human, llm, review, import, model)
    origin: str = ""  # how the record came in (import, synthetic, rewrite, edit)
    annotator: int | None = None
    split: str = ""
    held: bool | None = None
    route: str = ""  # "none" for never routed
    review: str = ""  # "none" for not under review
    round: int | None = None  # in that round's training snapshot
    agreement: str = ""
    flagged: bool | None = None  # an annotator's open flag
    noise: bool | None = None  # suspected by a label-noise run
    noise_job: int | None = None  # ... by this run
    scores: tuple[ScoreRange, ...] = ()
    ids: tuple[int, ...] = ()  # a selection of rows

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) in (None, "", ()) for f in fields(self))


@dataclass(frozen=True)
class Sort:
    key: str = "id"  # "id" or a score kind (SCORE_KINDS)
    descending: bool = False

    @classmethod
    def parse(cls, text: str) -> Sort:
        key = text.removeprefix("-")
        if key not in ("id", *SCORE_KINDS):
            return cls()
        return cls(key, text.startswith("-"))

    def __str__(self) -> str:
        return ("-" if self.descending else "") + self.key


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after the row with this sort value and id."""

    id: int
    value: float | None = None

    def __str__(self) -> str:
        return str(self.id) if self.value is None else f"{self.value!r}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> Cursor | None:
        """None for anything this class did not write: ids beyond bigint, non-finite values."""
        value, _, pk = text.rpartition(":")
        try:
            cursor = cls(int(pk), float(value) if value else None)
        except ValueError:
            return None
        if not 0 <= cursor.id <= MAX_ID or (value and not math.isfinite(cursor.value or 0.0)):
            return None
        return cursor


@dataclass
class RecordPage:
    records: list[Record]
    next_cursor: Cursor | None
    sort: Sort


def visible_records(project: Project, user: User) -> QuerySet[Record]:
    """The records `user` may see in the data manager: all of them for curators and admins,
    the ones they labeled themselves for annotators (their read-only slice)."""
    records = Record.objects.filter(project=project)
    if can(user, project, Action.REVIEW):
        return records
    if can(user, project, Action.VIEW):
        return records.filter(Exists(Annotation.objects.filter(record=OuterRef("pk"), author=user)))
    return records.none()


def _search(records: QuerySet[Record], text: str) -> QuerySet[Record]:
    if connection.vendor == "postgresql":
        query = SearchQuery(text, config="english", search_type="websearch")
        return records.alias(fts=PayloadVector("payload")).filter(fts=query)
    return records.alias(payload_text=Cast("payload", TextField())).filter(
        payload_text__icontains=text
    )


def _labels(project: Project, filters: RecordFilters) -> Q | None:
    """Records with a label of the wanted value and/or source, from one annotation each."""
    if not (filters.label or filters.source):
        return None
    annotations = Annotation.objects.filter(record=OuterRef("pk"))
    if filters.source:
        annotations = annotations.filter(source=filters.source)
    else:
        annotations = annotations.filter(source__in=[*LABEL_SOURCES, Source.LLM])
    if filters.label:
        lookup = task_types.get(project.task_type).label_lookup(filters.label)
        if lookup is None:
            return Q(pk__in=[])
        annotations = annotations.filter(**lookup)
    return Q(Exists(annotations))


def _status(project: Project, status: str) -> Q | None:
    labeled = Q(
        Exists(Annotation.objects.filter(record=OuterRef("pk"), source__in=LABEL_SOURCES))
    ) | Q(route=RoutingDecision.Decision.AUTO)
    if status == "labeled":
        return labeled
    if status == "unlabeled":
        return ~labeled
    if status == "filtered":
        return Q(filtered_by__isnull=False)
    if status == "waiting":
        return waiting_condition(project)
    return None


def _agreement(project: Project, agreement: str) -> Q | None:
    if agreement not in AGREEMENT:
        return None
    people = Annotation.objects.filter(project=project, source=Source.HUMAN)
    if agreement == "disagree":
        # Distinct values among each author's standing labels (superseded ones do not count).
        disagreeing = (
            people.filter(superseded_by__isnull=True)
            .values("record_id")
            .annotate(values=Count("value", distinct=True))
            .filter(values__gte=2)
        )
        return Q(pk__in=disagreeing.values("record_id"))
    authors = people.values("record_id").annotate(authors=Count("author_id", distinct=True))
    if agreement == "single":
        return Q(pk__in=authors.filter(authors=1).values("record_id"))
    return Q(pk__in=authors.filter(authors__gte=2).values("record_id"))


def _score(score: ScoreRange) -> Q:
    if score.kind == PRIORITY:
        condition = Q()
        if score.low is not None:
            condition &= Q(priority__gte=score.low)
        if score.high is not None:
            condition &= Q(priority__lte=score.high)
        return condition
    scores = Score.objects.filter(record=OuterRef("pk"), kind=score.kind)
    if score.low is not None:
        scores = scores.filter(value__gte=score.low)
    if score.high is not None:
        scores = scores.filter(value__lte=score.high)
    return Q(Exists(scores))


def _flag(model: type[Any], **conditions: Any) -> Q:
    return Q(Exists(model.objects.filter(record=OuterRef("pk"), **conditions)))


def filtered_records(project: Project, user: User, filters: RecordFilters) -> QuerySet[Record]:
    """The records the filters select among those `user` may see (no order)."""
    records = visible_records(project, user)
    conditions: list[Q | None] = [
        Q(split=filters.split) if filters.split else None,
        Q(origin=filters.origin) if filters.origin else None,
        Q(held=filters.held) if filters.held is not None else None,
        Q(route="" if filters.route == "none" else filters.route) if filters.route else None,
        Q(review="" if filters.review == "none" else filters.review) if filters.review else None,
        Q(pk__in=filters.ids) if filters.ids else None,
        _status(project, filters.status),
        _labels(project, filters),
        _agreement(project, filters.agreement),
        *(_score(score) for score in filters.scores),
    ]
    if filters.annotator is not None:
        conditions.append(_flag(Annotation, author_id=filters.annotator, source=Source.HUMAN))
    if filters.round is not None:
        conditions.append(
            _flag(RoundSnapshotItem, round__project=project, round__number=filters.round)
        )
    if filters.flagged is not None:
        flagged = _flag(Comment, flag=True, resolved_at__isnull=True)
        conditions.append(flagged if filters.flagged else ~flagged)
    if filters.noise is not None or filters.noise_job is not None:
        noise = _flag(NoiseFlag, **({"job_id": filters.noise_job} if filters.noise_job else {}))
        conditions.append(noise if filters.noise is not False else ~noise)
    for condition in conditions:
        if condition is not None:
            records = records.filter(condition)
    if filters.q.strip():
        records = _search(records, filters.q.strip())
    return records


def _with_latest_score(records: QuerySet[Record], kind: str) -> QuerySet[Record]:
    """Records joined to their latest score of `kind` (as `sort_value`); records without one
    are left out. A join rather than a subquery per record, so that PostgreSQL can walk the
    scores in value order (index score_kind_value) and stop after one page."""
    newer = Score.objects.filter(record=OuterRef("pk"), kind=kind, id__gt=OuterRef("sort_score"))
    return (
        records.filter(scores__kind=kind)
        .annotate(sort_value=F("scores__value"), sort_score=F("scores__id"))
        .filter(~Exists(newer))
    )


def records_page(
    project: Project,
    user: User,
    filters: RecordFilters,
    sort: Sort | None = None,
    after: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> RecordPage:
    """One page of the filtered records in `sort` order, after `after`.

    Sorting by a score kind shows the records that have that score (the latest one each);
    `priority` is on every row.
    """
    sort = sort or Sort()
    records = filtered_records(project, user, filters)
    if sort.key == "id":
        if after is not None:
            records = (
                records.filter(pk__lt=after.id)
                if sort.descending
                else records.filter(pk__gt=after.id)
            )
        ordered = records.order_by("-id" if sort.descending else "id")
    else:
        if sort.key == PRIORITY:
            records = records.annotate(sort_value=F("priority"))
        else:
            records = _with_latest_score(records, sort.key)
        if after is not None and after.value is not None:
            past = "lt" if sort.descending else "gt"
            records = records.filter(
                Q(**{f"sort_value__{past}": after.value})
                | Q(sort_value=Value(after.value), **{f"pk__{past}": after.id})
            )
        ordered = records.order_by(
            "-sort_value" if sort.descending else "sort_value", "-id" if sort.descending else "id"
        )
    rows = list(ordered[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = None
    if more and rows:
        last = rows[-1]
        cursor = Cursor(last.pk, None if sort.key == "id" else float(last.sort_value))  # type: ignore[attr-defined]
    return RecordPage(records=rows, next_cursor=cursor, sort=sort)


def capped_count(records: QuerySet[Record], cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many records (up to `cap`), and whether there are more than that."""
    found = records.order_by()[: cap + 1].count()
    return min(found, cap), found > cap


@dataclass
class RecordRow:
    """What the data manager's table shows of one record."""

    record: Record
    text: str
    label: str = ""
    label_source: str = ""
    annotators: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    noise: bool = False
    flagged: bool = False


def record_rows(
    project: Project, records: Iterable[Record], author: User | None = None
) -> list[RecordRow]:
    """The table rows of one page: text, latest label and its source, annotators, scores and
    flags, from one query per related table for the whole page. With `author` (an annotator's
    own slice), only that person's labels: nobody learns what others answered."""
    records = list(records)
    ids = [record.pk for record in records]
    task = task_types.get(project.task_type)
    # The field a person reads first: the text, or the prompt of a pairwise or correction task.
    shown = project.settings_obj.text_field if task.fields[0] == "text" else task.fields[0]
    latest: dict[int, tuple[Any, str]] = {}
    authors: dict[int, set[int]] = defaultdict(set)
    labels = Annotation.objects.filter(record_id__in=ids, source__in=[*LABEL_SOURCES, Source.LLM])
    if author is not None:
        labels = labels.filter(author=author)
    for record_id, value, source, author_id in labels.order_by("id").values_list(
        "record_id", "value", "source", "author_id"
    ):
        latest[record_id] = (value, source)  # the newest label wins
        if author_id and source == Source.HUMAN:
            authors[record_id].add(author_id)
    names = dict(
        User.objects.filter(pk__in={a for per in authors.values() for a in per}).values_list(
            "pk", "username"
        )
    )
    scores: dict[int, dict[str, float]] = defaultdict(dict)
    for record_id, kind, value in (
        Score.objects.filter(record_id__in=ids, kind__in=BATCH_SCORE_KINDS)
        .order_by("id")
        .values_list("record_id", "kind", "value")
    ):
        scores[record_id][kind] = value
    noisy = set(NoiseFlag.objects.filter(record_id__in=ids).values_list("record_id", flat=True))
    flagged = set(
        Comment.objects.filter(record_id__in=ids, flag=True, resolved_at__isnull=True).values_list(
            "record_id", flat=True
        )
    )
    rows = []
    for record in records:
        value, source = latest.get(record.pk, (None, ""))
        rows.append(
            RecordRow(
                record=record,
                text=task_types.text_of(record.payload, shown),
                label=task.describe(project.labels, value) if value is not None else "",
                label_source=source,
                annotators=sorted(names.get(a, "") for a in authors.get(record.pk, ())),
                scores={PRIORITY: record.priority, **scores.get(record.pk, {})},
                noise=record.pk in noisy,
                flagged=record.pk in flagged,
            )
        )
    return rows


def assignable_annotators(project: Project) -> QuerySet[User]:
    """Members a curator may reserve records for (anyone who may label in the project)."""
    return User.objects.filter(memberships__project=project).order_by("username").distinct()


def reserved_for(record_ids: list[int]) -> dict[int, list[str]]:
    reserved: dict[int, list[str]] = defaultdict(list)
    for record_id, username in RecordAssignee.objects.filter(record_id__in=record_ids).values_list(
        "record_id", "annotator__username"
    ):
        reserved[record_id].append(username)
    return reserved


def exportable_rounds(project: Project) -> QuerySet[Round]:
    """Rounds whose training snapshot an export can write (those that froze one)."""
    frozen = RoundSnapshotItem.objects.filter(round=OuterRef("pk"))
    return Round.objects.filter(project=project).filter(Exists(frozen)).order_by("-number")
