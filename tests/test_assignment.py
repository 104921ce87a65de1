import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import close_old_connections, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token

from annotation.models import Annotation, Assignment, Source
from annotation.services.annotations import annotation_submit
from annotation.services.assignment import assignment_skip, current_assignment, next_assignment
from curator.models import Record, Role, Round
from tests.conftest import as_jsonl, sst2_rows
from tests.test_imports import run_import


@pytest.fixture
def pool(project):
    run_import(project, as_jsonl(sst2_rows("dev", limit=200), drop=("label",)))
    return project


def expire(assignment: Assignment) -> None:
    Assignment.objects.filter(pk=assignment.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def in_threads(count: int, work) -> list:
    """Run work(i) in `count` threads started together; each thread has its own connection."""
    results: list = [None] * count
    errors: list = []
    barrier = threading.Barrier(count)

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_annotators_never_get_the_same_record(pool, member):
    annotators = [member(Role.ANNOTATOR, f"ann{i}") for i in range(32)]

    def take_three(i: int) -> list[int]:
        close_old_connections()
        taken = []
        for _ in range(3):
            assignment = next_assignment(pool, annotators[i])
            annotation_submit(assignment=assignment, user=annotators[i], value="positive")
            taken.append(assignment.record_id)
        return taken

    taken = [record for records in in_threads(32, take_three) for record in records]
    assert len(taken) == 96
    assert Counter(taken).most_common(1)[0][1] == 1, "a record was handed to two annotators"
    assert Annotation.objects.filter(project=pool, source=Source.HUMAN).count() == 96
    assert Record.objects.filter(project=pool, claimed_count__gt=1).count() == 0


@pytest.mark.django_db(transaction=True)
def test_64_annotators_with_overlap_and_gold_checks_never_over_assign_or_lose(pool, member):
    run_import(pool, as_jsonl(sst2_rows("dev", limit=230)[200:]), split="gold")
    pool.settings = {**pool.settings, "overlap": 2, "gold_rate": 0.2}
    pool.save()
    annotators = [member(Role.ANNOTATOR, f"crowd{i}") for i in range(64)]
    gold = set(Record.objects.filter(project=pool, split="gold").values_list("id", flat=True))

    def label_four(i: int) -> list[tuple[int, int]]:
        close_old_connections()
        done = []
        for n in range(4):
            assignment = next_assignment(pool, annotators[i])
            if n == 1:  # some skip, and a skipped record must still reach two others
                assignment_skip(assignment, reason="unclear")
                continue
            annotation = annotation_submit(
                assignment=assignment, user=annotators[i], value=["negative", "positive"][i % 2]
            )
            done.append((assignment.record_id, annotation.pk))
        return done

    submitted = [pair for pairs in in_threads(64, label_four) for pair in pairs]
    assert len(submitted) == 64 * 3
    stored = Annotation.objects.filter(project=pool, source=Source.HUMAN)
    assert stored.count() == len(submitted), "a submission was lost"
    assert set(stored.values_list("id", flat=True)) == {pk for _, pk in submitted}
    per_record = Counter(stored.exclude(record_id__in=gold).values_list("record_id", flat=True))
    assert max(per_record.values()) <= 2, "a record went to more annotators than the overlap"
    pairs = Counter(stored.values_list("record_id", "author_id"))
    assert max(pairs.values()) == 1, "an annotator got the same record twice"
    assert stored.filter(record_id__in=gold).exists(), "no gold check was mixed in"
    # The slot counters agree with what was actually handed out.
    for record_id, count in per_record.items():
        assert Record.objects.get(pk=record_id).claimed_count == count


@pytest.mark.django_db(transaction=True)
def test_one_annotator_asking_in_parallel_holds_a_single_lease(pool, annotator):
    records = in_threads(8, lambda i: next_assignment(pool, annotator).record_id)
    assert len(set(records)) == 1
    assert Assignment.objects.filter(annotator=annotator, state="leased").count() == 1


@pytest.mark.django_db
def test_asking_again_before_submitting_returns_the_same_record(pool, annotator):
    first = next_assignment(pool, annotator)
    assert next_assignment(pool, annotator).pk == first.pk


@pytest.mark.django_db
def test_expired_lease_is_reclaimed_for_the_next_annotator(pool, member):
    alice, bob = member(Role.ANNOTATOR, "alice"), member(Role.ANNOTATOR, "bob")
    first = next_assignment(pool, alice)
    expire(first)
    cache.clear()  # the reclaim interval has passed
    again = next_assignment(pool, bob)
    assert again.record_id == first.record_id
    assert Assignment.objects.get(pk=first.pk).state == Assignment.State.EXPIRED
    assert Record.objects.get(pk=first.record_id).claimed_count == 1


@pytest.mark.django_db
def test_label_submitted_after_the_lease_expired_is_kept(pool, member):
    alice, bob = member(Role.ANNOTATOR, "alice"), member(Role.ANNOTATOR, "bob")
    late = next_assignment(pool, alice)
    expire(late)
    cache.clear()  # the reclaim interval has passed
    next_assignment(pool, bob)  # reclaims alice's lease and hands the record to bob
    annotation = annotation_submit(assignment=late, user=alice, value="negative")
    assert Annotation.objects.get(pk=annotation.pk).author == alice
    assert Assignment.objects.get(pk=late.pk).state == Assignment.State.SUBMITTED


@pytest.mark.django_db
def test_submitting_twice_stores_one_label(pool, annotator):
    assignment = next_assignment(pool, annotator)
    first = annotation_submit(assignment=assignment, user=annotator, value="positive")
    second = annotation_submit(assignment=assignment, user=annotator, value="positive")
    assert first.pk == second.pk
    assert Annotation.objects.filter(record_id=assignment.record_id).count() == 1


@pytest.mark.django_db
def test_skipped_record_goes_to_someone_else_but_not_back_to_the_skipper(pool, member):
    alice, bob = member(Role.ANNOTATOR, "alice"), member(Role.ANNOTATOR, "bob")
    skipped = next_assignment(pool, alice)
    assignment_skip(skipped, reason="cannot tell")
    assert next_assignment(pool, alice).record_id != skipped.record_id
    assert next_assignment(pool, bob).record_id == skipped.record_id


@pytest.mark.django_db
def test_overlap_two_gives_each_record_to_two_distinct_annotators(pool, member):
    pool.settings = {**pool.settings, "overlap": 2}
    pool.save()
    alice, bob, carol = (member(Role.ANNOTATOR, n) for n in ("alice", "bob", "carol"))
    a = next_assignment(pool, alice)
    b = next_assignment(pool, bob)
    assert a.record_id == b.record_id
    c = next_assignment(pool, carol)
    assert c.record_id != a.record_id
    annotation_submit(assignment=a, user=alice, value="positive")
    assert next_assignment(pool, alice).record_id not in {a.record_id}


@pytest.mark.django_db
def test_queue_serves_highest_priority_first(pool, annotator):
    target = Record.objects.filter(project=pool).order_by("-id").first()
    Record.objects.filter(pk=target.pk).update(priority=0.69)
    assert next_assignment(pool, annotator).record_id == target.pk


@pytest.mark.django_db
def test_empty_queue_returns_none(project, annotator):
    assert next_assignment(project, annotator) is None


@pytest.mark.django_db
def test_an_empty_queue_reclaims_expired_leases_at_once(project, member):
    run_import(project, as_jsonl(sst2_rows("dev", 1), drop=("label",)))
    alice, bob = member(Role.ANNOTATOR, "alice"), member(Role.ANNOTATOR, "bob")
    only = next_assignment(project, alice)
    expire(only)
    # Within the reclaim interval, but the queue is otherwise empty: bob still gets the record.
    assert next_assignment(project, bob).record_id == only.record_id


def _token_client(user) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")


def _next_statements(client: Client, project) -> tuple[list[str], dict]:
    with CaptureQueriesContext(connection) as asked:
        response = client.post(f"/api/projects/{project.slug}/next/")
    assert response.status_code == 200
    return [query["sql"] for query in asked.captured_queries], response.json()


@pytest.mark.django_db(transaction=True)
def test_next_costs_the_same_statements_early_and_late_in_a_project(pool, member):
    """Token, project with role, the caller's live lease, the claim: four statements, whether
    one record or three quarters of the pool are labeled (the claim used to add a savepoint,
    an UPDATE and an INSERT, and a suggestion lookup that found nothing)."""
    annotator, others = member(Role.ANNOTATOR, "ann"), member(Role.ANNOTATOR, "others")
    client = _token_client(annotator)
    next_assignment(pool, annotator)  # the first ask of a project also reclaims leases
    assignment_skip(current_assignment(pool, annotator))
    early, given = _next_statements(client, pool)
    assert len(early) == 4, early
    assert given["suggestion"] is None
    mine = Assignment.objects.get(pk=given["id"])
    annotation_submit(assignment=mine, user=annotator, value="positive")
    for _ in range(150):
        taken = next_assignment(pool, others)
        annotation_submit(assignment=taken, user=others, value="positive")
    late, given = _next_statements(client, pool)
    assert len(late) == 4, late
    assert Record.objects.get(pk=given["record"]["id"]).claimed_count == 1


@pytest.mark.django_db(transaction=True)
def test_a_model_label_is_still_offered_with_a_freshly_claimed_record(pool, annotator):
    first = Record.objects.filter(project=pool).order_by("-priority", "id").first()
    # A model label comes from a finished classifier round (the latest one speaks).
    round_ = Round.objects.create(project=pool, number=1, kind="classifier", status="succeeded")
    Annotation.objects.create(
        record=first, project=pool, value="positive", source=Source.MODEL, confidence=0.97,
        round=round_,
    )  # fmt: skip
    client = _token_client(annotator)
    _, given = _next_statements(client, pool)
    assert given["record"]["id"] == first.pk
    assert given["suggestion"]["value"] == "positive"
    _, given = _next_statements(client, pool)  # the same lease, read back
    assert given["record"]["id"] == first.pk and given["suggestion"]["value"] == "positive"


@pytest.mark.django_db(transaction=True)
def test_a_parallel_request_of_the_same_annotator_gets_the_same_lease_and_takes_no_slot(
    pool, annotator
):
    """Two tabs asking at once: one claim wins, the other statement fails on the one-lease
    constraint and changed nothing, so no slot leaks."""
    taken = in_threads(8, lambda i: (close_old_connections(), next_assignment(pool, annotator)))
    assert len({assignment.pk for _, assignment in taken}) == 1
    assert Record.objects.filter(project=pool, claimed_count__gt=0).count() == 1
    assert Assignment.objects.filter(project=pool, annotator=annotator).count() == 1


@pytest.mark.django_db
def test_submit_and_next_in_one_request_still_returns_a_lease_held_elsewhere(
    pool, annotator, member
):
    """The combined submit + next skips looking up a live lease; when the annotator already
    holds one (a late label for an expired lease while another tab leased a record), that
    lease comes back instead of a second claim."""
    client = Client()
    client.force_login(annotator)
    base = f"/api/projects/{pool.slug}"
    late = next_assignment(pool, annotator)
    expire(late)
    cache.clear()  # the reclaim interval has passed
    bob = member(Role.ANNOTATOR, "bob")
    assert next_assignment(pool, bob).record_id == late.record_id  # reclaimed, served to bob
    held = next_assignment(pool, annotator)  # the other tab: another record
    assert held.record_id != late.record_id
    claimed = Record.objects.filter(project=pool, claimed_count__gt=0).count()
    answer = client.post(
        f"{base}/assignments/{late.pk}/submit/",
        {"value": "negative", "next": True},
        content_type="application/json",
    )
    assert answer.status_code == 201
    assert answer.json()["next"]["id"] == held.pk
    # The late label took a second slot of its record (bob holds the first); nothing else
    # was claimed.
    assert Record.objects.get(pk=late.record_id).claimed_count == 2
    assert Record.objects.filter(project=pool, claimed_count__gt=0).count() == claimed
    leased = Assignment.objects.filter(annotator=annotator, state=Assignment.State.LEASED)
    assert leased.count() == 1

    following = client.post(
        f"{base}/assignments/{held.pk}/submit/",
        {"value": "positive", "next": True},
        content_type="application/json",
    ).json()["next"]
    assert following["id"] not in (late.pk, held.pk)
    assert client.post(f"{base}/next/").json()["id"] == following["id"]


@pytest.mark.django_db(transaction=True)
def test_submit_with_next_costs_four_statements_and_stores_the_label_with_its_lease(
    pool, annotator
):
    """Token, the assignment with its project and the caller's role, the label stored with
    its lease closed (one statement), the next claim: four statements in all (the submit used
    to read the project, then the assignment, then lock, insert and update in a transaction)."""
    client = _token_client(annotator)
    base = f"/api/projects/{pool.slug}"
    first = client.post(f"{base}/next/").json()
    with CaptureQueriesContext(connection) as asked:
        answer = client.post(
            f"{base}/assignments/{first['id']}/submit/",
            {"label": "negative", "seconds_spent": 4.5, "next": True},
            content_type="application/json",
        )
    assert answer.status_code == 201, answer.content
    assert len(asked) == 4, [query["sql"] for query in asked.captured_queries]
    body = answer.json()
    stored = Annotation.objects.get(pk=body["id"])
    assert (stored.record_id, stored.author, stored.value) == (
        first["record"]["id"],
        annotator,
        "negative",
    )
    assert (stored.source, stored.seconds_spent, stored.suggestion_accepted) == (
        Source.HUMAN,
        4.5,
        None,
    )
    assert body["value"] == "negative" and body["record"] == first["record"]["id"]
    closed = Assignment.objects.get(pk=first["id"])
    assert closed.state == Assignment.State.SUBMITTED
    assert closed.annotation_id == stored.pk and closed.finished_at is not None
    assert body["next"]["id"] != first["id"]
    assert Record.objects.get(pk=first["record"]["id"]).claimed_count == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_submits_of_one_lease_store_one_label(pool, annotator):
    """Double clicks and retries arriving together: one label, and every answer names it."""
    assignment = next_assignment(pool, annotator)
    stored = in_threads(
        8,
        lambda i: (
            close_old_connections(),
            annotation_submit(assignment=assignment, user=annotator, value="positive"),
        )[1],
    )
    assert len({annotation.pk for annotation in stored}) == 1
    assert Annotation.objects.filter(record_id=assignment.record_id).count() == 1
    assert Assignment.objects.get(pk=assignment.pk).annotation_id == stored[0].pk
    assert Record.objects.get(pk=assignment.record_id).claimed_count == 1


@pytest.mark.django_db
def test_an_annotator_removed_from_the_project_cannot_submit_the_lease_they_held(pool, annotator):
    client = _token_client(annotator)
    held = next_assignment(pool, annotator)
    pool.memberships.filter(user=annotator).delete()
    answer = client.post(
        f"/api/projects/{pool.slug}/assignments/{held.pk}/submit/",
        {"label": "positive"},
        content_type="application/json",
    )
    assert answer.status_code == 404
    assert not Annotation.objects.filter(record_id=held.record_id).exists()


@pytest.mark.django_db
def test_the_claim_reads_the_waiting_queue_even_while_statistics_say_nothing_is_claimed(
    project, member
):
    """The import's ANALYZE saw every record unclaimed; labeling changes that long before
    autovacuum looks again. The claim must still start at the first unclaimed record (the
    waiting-queue index), not walk the queue order past every claimed one."""
    from annotation.services.claims import _statement

    run_import(project, as_jsonl(sst2_rows("train", limit=3000), drop=("label",)))
    with connection.cursor() as cursor:  # no ANALYZE behind the test's back (rolled back after)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {Record._meta.db_table} SET (autovacuum_enabled = false)")
    others = member(Role.ANNOTATOR, "others")
    for _ in range(100):
        annotation_submit(
            assignment=next_assignment(project, others), user=others, value="positive"
        )
    annie = member(Role.ANNOTATOR, "annie2")
    params = {"project": project.pk, "user": annie.pk, "overlap": 1, "lease": 600.0,
              "llm": Source.LLM, "model": Source.MODEL}  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + _statement(1), params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    unclaimed = plan.split("CTE unclaimed")[1].split("CTE claimed")[0]
    assert "record_waiting_queue" in unclaimed, plan
    assert "Rows Removed by Filter" not in unclaimed.split("SubPlan")[0], plan
