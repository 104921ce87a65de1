"""Reads for review, agreement and annotator figures. No writes here."""

from __future__ import annotations

import contextlib
import functools
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone

from annotation import task_types
from annotation.agreement import AgreementReport, Rating, agreement_report
from annotation.consensus import LabelVote, dawid_skene
from annotation.labels import gold_labels
from annotation.models import Annotation, Assignment, Comment, Source, seconds_usable
from curator.models import Membership, Project, Record, RoutingDecision, Split, User
from curator.models.rows import columns, from_row, prepared_cursor, width
from curator.permissions import role_remember

# Per-annotator figures need some evidence before they mean anything.
MIN_GOLD_FOR_ACCURACY = 1


def own_assignment(user: User, slug: str, assignment_id: int) -> Assignment | None:
    """The caller's assignment `assignment_id` in the project `slug`, with its project, its
    record and the caller's role in the project, all in one query (a submit or skip used to
    read the project and the role, then the assignment); None when there is no such one.

    Written out in SQL: every label submitted reads it, and the ORM spent more time compiling
    this three-table read than PostgreSQL spent answering it."""
    with prepared_cursor() as cursor:
        cursor.execute(
            _own_assignment_statement(),
            {"assignment": assignment_id, "user": user.pk, "slug": slug},
        )
        row = cursor.fetchone()
    if row is None:
        return None
    first, second = width(Assignment), width(Assignment) + width(Project)
    assignment = from_row(Assignment, row[:first])
    assignment.project = from_row(Project, row[first:second])
    assignment.record = from_row(Record, row[second:-1])
    if not user.is_superuser:
        role_remember(user, assignment.project_id, row[-1])
    return assignment


@functools.cache
def _own_assignment_statement() -> str:
    return f"""
    SELECT {columns(Assignment, "a")}, {columns(Project, "p")}, {columns(Record, "r")},
        (SELECT m.role FROM {Membership._meta.db_table} m
         WHERE m.project_id = a.project_id AND m.user_id = %(user)s ORDER BY m.id LIMIT 1)
    FROM {Assignment._meta.db_table} a
    JOIN {Project._meta.db_table} p ON p.id = a.project_id
    JOIN {Record._meta.db_table} r ON r.id = a.record_id
    WHERE a.id = %(assignment)s AND a.annotator_id = %(user)s AND p.slug = %(slug)s
    """  # noqa: S608 - table and column names from model metadata, values are parameters


def latest_human_labels(
    project: Project, record_ids: list[int] | None = None, since: Any = None
) -> dict[int, dict[int, tuple[int, Any]]]:
    """record -> author -> (annotation id, value) of each author's latest label (given after
    `since`, when set)."""
    annotations = Annotation.objects.filter(project=project, source=Source.HUMAN)
    if since is not None:
        annotations = annotations.filter(created_at__gt=since)
    if record_ids is not None:
        annotations = annotations.filter(record_id__in=record_ids)
    result: dict[int, dict[int, tuple[int, Any]]] = defaultdict(dict)
    for record_id, author_id, annotation_id, value in (
        annotations.order_by("id")
        .values_list("record_id", "author_id", "id", "value")
        .iterator(chunk_size=5000)
    ):
        result[record_id][author_id] = (annotation_id, value)  # later ids replace earlier
    return result


def ratings_of(project: Project, since: Any = None) -> list[Rating]:
    """Every author's latest label (since a moment, if given), cut into the units agreement
    statistics count."""
    task = task_types.get(project.task_type)
    labels = latest_human_labels(project, since=since)
    field = project.settings_obj.text_field
    texts: dict[int, str] = {}
    if task.agreement_needs_text:
        texts = {
            pk: task_types.text_of(payload, field)
            for pk, payload in Record.objects.filter(
                pk__in=[r for r, per in labels.items() if len(per) >= 2]
            ).values_list("pk", "payload")
        }
    ratings = []
    for record_id, per_author in labels.items():
        if len(per_author) < 2:
            continue  # a unit one person rated says nothing about agreement
        for author_id, (_, value) in per_author.items():
            for suffix, category in task.agreement_units(
                project.labels, value, texts.get(record_id, "")
            ):
                ratings.append(
                    Rating(
                        unit=f"{record_id}:{suffix}",
                        coder=str(author_id),
                        category=category,
                        group=suffix if task.agreement_per_unit else "",
                    )
                )
    return ratings


def project_agreement(project: Project) -> AgreementReport | None:
    level = task_types.get(project.task_type).level
    if level is None:
        return None  # free text: agreement is read in review, not computed
    return agreement_report(ratings_of(project), level)


def usernames(ids: set[int] | list[int]) -> dict[int, str]:
    return dict(User.objects.filter(pk__in=list(ids)).values_list("pk", "username"))


@dataclass(frozen=True)
class AnnotatorFigures:
    user_id: int
    username: str
    labels: int
    median_seconds: float | None
    suggestions_shown: int
    suggestions_accepted: int
    gold_checked: int
    gold_correct: int
    competence: float | None

    @property
    def gold_accuracy(self) -> float | None:
        if self.gold_checked < MIN_GOLD_FOR_ACCURACY:
            return None
        return self.gold_correct / self.gold_checked

    @property
    def acceptance(self) -> float | None:
        return (
            self.suggestions_accepted / self.suggestions_shown if self.suggestions_shown else None
        )


@dataclass
class _Tally:
    """One annotator's counts while they are gathered; frozen into AnnotatorFigures."""

    labels: int = 0
    seconds: list[float] = field(default_factory=list)
    suggestions_shown: int = 0
    suggestions_accepted: int = 0
    gold_checked: int = 0
    gold_correct: int = 0
    competence: float | None = None


def annotator_figures(project: Project) -> list[AnnotatorFigures]:
    """Per annotator: labels, speed, suggestion acceptance, gold accuracy, competence."""
    task = task_types.get(project.task_type)
    tallies: dict[int, _Tally] = defaultdict(_Tally)
    for author_id, spent, accepted in Annotation.objects.filter(
        project=project, source=Source.HUMAN, supersedes__isnull=True
    ).values_list("author_id", "seconds_spent", "suggestion_accepted"):
        tally = tallies[author_id]
        tally.labels += 1
        if spent is not None and seconds_usable(spent):  # older rows may be NaN or huge
            tally.seconds.append(spent)
        if accepted is not None:
            tally.suggestions_shown += 1
            tally.suggestions_accepted += bool(accepted)

    truth = gold_labels(project)
    if truth:
        for record_id, per_author in latest_human_labels(project, list(truth)).items():
            for author_id, (_, value) in per_author.items():
                tally = tallies[author_id]
                tally.gold_checked += 1
                tally.gold_correct += task.vote_key(value) == truth[record_id]
    # Competence needs one category per person and record (not a span list, not free text).
    if task.level is not None and task.record_votes_are_categories:
        votes = [
            LabelVote(record_id, annotation_id, str(author_id), Source.HUMAN,
                      task.vote_key(value))
            for record_id, per_author in latest_human_labels(project).items()
            if len(per_author) >= 2
            for author_id, (annotation_id, value) in per_author.items()
        ]  # fmt: skip
        if votes:
            for author_key, competence in dawid_skene(votes)[1].items():
                tallies[int(author_key)].competence = competence
    names = usernames(set(tallies))
    figures = [
        AnnotatorFigures(
            user_id=user_id,
            username=names.get(user_id, f"user {user_id}"),
            labels=tally.labels,
            median_seconds=statistics.median(tally.seconds) if tally.seconds else None,
            suggestions_shown=tally.suggestions_shown,
            suggestions_accepted=tally.suggestions_accepted,
            gold_checked=tally.gold_checked,
            gold_correct=tally.gold_correct,
            competence=tally.competence,
        )
        for user_id, tally in tallies.items()
    ]
    return sorted(figures, key=lambda row: row.username)


@dataclass
class Disagreement:
    record: Record
    labels: list[dict[str, Any]]  # {"annotation_id", "author", "value", "key"}


def disagreements(project: Project, after_id: int = 0, limit: int = 25) -> list[Disagreement]:
    """Records whose annotators disagree and that no curator has adjudicated since, by id.

    Candidates come from an integer aggregate (records with two authors or more), so no
    DISTINCT runs over JSON; their values are compared here, one page at a time.
    """
    task = task_types.get(project.task_type)
    found: list[Disagreement] = []
    cursor = after_id
    while len(found) < limit:
        candidates = list(
            Annotation.objects.filter(project=project, source=Source.HUMAN, record_id__gt=cursor)
            .values("record_id")
            .annotate(authors=Count("author_id", distinct=True))
            .filter(authors__gte=2)
            .order_by("record_id")
            .values_list("record_id", flat=True)[: limit * 4]
        )
        if not candidates:
            break
        cursor = candidates[-1]
        labels = latest_human_labels(project, candidates)
        last_review = dict(
            Annotation.objects.filter(record_id__in=candidates, source=Source.REVIEW)
            .order_by("id")
            .values_list("record_id", "id")
        )  # the latest adjudication per record wins in the dict
        records = Record.objects.in_bulk(candidates)
        names = usernames({a for per in labels.values() for a in per})
        for record_id in candidates:
            per_author = labels.get(record_id, {})
            keys = {task.vote_key(value) for _, value in per_author.values()}
            if len(keys) < 2:
                continue
            newest = max(annotation_id for annotation_id, _ in per_author.values())
            if last_review.get(record_id, 0) > newest:
                continue  # settled by a curator after the last label came in
            found.append(
                Disagreement(
                    record=records[record_id],
                    labels=[
                        {
                            "annotation_id": annotation_id,
                            "author": names.get(author_id, ""),
                            "value": value,
                            "key": task.vote_key(value),
                        }
                        for author_id, (annotation_id, value) in sorted(per_author.items())
                    ],
                )
            )
            if len(found) >= limit:
                break
    return found


def open_flags(project: Project, limit: int = 50):  # -> QuerySet[Comment]
    return (
        Comment.objects.filter(project=project, flag=True, resolved_at__isnull=True)
        .select_related("record", "author")
        .order_by("id")[:limit]
    )


def spot_check_misses(project: Project, limit: int = 50) -> list[dict[str, Any]]:
    """Spot checks where the person disagreed with the confident LLM label: suspect items."""
    checks = RoutingDecision.objects.filter(
        record__project=project, decision=RoutingDecision.Decision.SPOT_CHECK
    ).values_list("record_id", "label")
    checked = dict(checks)
    people = latest_human_labels(project, list(checked))
    misses = []
    for record_id, per_author in people.items():
        for _, value in per_author.values():
            if task_types.vote_key(project.task_type, value) != checked[record_id]:
                misses.append({"record_id": record_id, "llm": checked[record_id], "human": value})
                break
        if len(misses) >= limit:
            break
    return misses


def annotator_progress(project: Project, user: User) -> dict[str, Any]:
    """What the labeling page shows its annotator: labels given, speed, what is left."""
    mine = Annotation.objects.filter(project=project, author=user, source=Source.HUMAN)
    now = timezone.now()
    counts = mine.aggregate(
        labels=Count("id", filter=Q(supersedes__isnull=True)),
        last_hour=Count("id", filter=Q(created_at__gte=now - timedelta(hours=1))),
        today=Count("id", filter=Q(created_at__date=now.date())),
    )
    recent = [
        seconds
        for seconds in mine.exclude(seconds_spent=None)
        .order_by("-id")
        .values_list("seconds_spent", flat=True)[:50]
        if seconds is not None and seconds_usable(seconds)
    ]
    return {
        **counts,
        "median_seconds": statistics.median(recent) if recent else None,
        "waiting": waiting_count(project),
    }


def waiting_count(project: Project) -> int:
    """Records still wanting a label, cached briefly: counting a 1M pool on every label is the
    single most expensive thing the labeling page would otherwise do."""
    key = _waiting_key(project.pk)
    value = cache.get(key)
    if value is None:
        value = waiting_records(project).count()
        cache.set(key, value, 30)
    return max(value, 0)


def _waiting_key(project_id: int) -> str:
    return f"waiting:{project_id}"


def waiting_count_taken(project_id: int) -> None:
    """A claim filled a record's last slot: the cached count follows at once (a page that says
    "256 waiting" after ten labels looks broken), without recounting the pool on every label."""
    with contextlib.suppress(ValueError):  # not cached: the next read counts
        cache.decr(_waiting_key(project_id))


def waiting_count_forget(project_id: int) -> None:
    """Records came back to the queue (skip, expired lease, requeue, release): count anew."""
    cache.delete(_waiting_key(project_id))


def waiting_condition(project: Project) -> Q:
    """What makes a record of `project` still want a label from someone (a condition on the
    record row, so the data manager's "waiting" filter is exactly the queue's)."""
    return Q(
        split=Split.POOL,
        claimed_count__lt=project.settings_obj.overlap,
        # Generated items wait for curators; filtered-out records are out of the data.
        review="",
        filtered_by__isnull=True,
        # Held records (e.g. scored toxic) reach no annotator until a curator clears the hold.
        held=False,
    ) & ~Q(route=RoutingDecision.Decision.AUTO)  # an auto-accepted LLM label needs no person


def waiting_records(project: Project):  # -> QuerySet[Record]
    """Pool records that still want a label from someone."""
    return Record.objects.filter(waiting_condition(project), project=project)


def records_handed_to(project: Project, user: User):  # -> QuerySet[Record]
    """The records `user` was given to label (leased, labeled, skipped or returned): what an
    annotator may list of a project. Gold checks are among them, indistinguishable."""
    return Record.objects.filter(
        project=project, pk__in=Assignment.objects.filter(annotator=user).values("record_id")
    )
