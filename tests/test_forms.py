"""HTML actions validate their POST through a Form: bad input is refused with the reason and
starts or stores nothing."""

import pytest

from annotation.models import Annotation, Assignment, Comment, Source
from curator.models import Job, Membership
from tests.conftest import as_jsonl, sst2_rows
from tests.test_imports import run_import


@pytest.mark.django_db
def test_a_generation_with_a_bad_count_is_refused_and_nothing_starts(client, project, admin_user):
    client.force_login(admin_user)
    page = client.post(
        f"/p/{project.slug}/data/generate/",
        {"generator": "instruction", "count": "many"},
        follow=True,
    ).content.decode()
    assert "Not started: count: count must be a whole number." in page
    assert not Job.objects.filter(kind=Job.Kind.GENERATE).exists()


@pytest.mark.django_db
def test_adding_a_member_without_a_role_is_refused(client, project, admin_user, make_user):
    make_user("nina")
    client.force_login(admin_user)
    page = client.post(
        f"/p/{project.slug}/members/", {"username": "nina"}, follow=True
    ).content.decode()
    assert "role: This field is required." in page
    assert not Membership.objects.filter(user__username="nina").exists()


# --- the labeling card: submit, skip, comment, revise ---------------------------------------------

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def leased(client, project, annotator):
    """An annotator's card on screen: the assignment it shows."""
    run_import(project, as_jsonl(sst2_rows("dev", 3), drop=("label",)))
    client.force_login(annotator)
    client.get(f"/p/{project.slug}/annotate/next/", **HTMX)
    return Assignment.objects.get(annotator=annotator, state="leased")


@pytest.mark.django_db
def test_a_label_with_a_broken_timer_is_refused_on_its_card_and_nothing_is_stored(
    client, project, leased
):
    card = client.post(
        f"/p/{project.slug}/annotate/{leased.pk}/submit/",
        {"label": "positive", "seconds": "soon"},
        **HTMX,
    ).content.decode()
    assert "seconds: Enter a number." in card
    assert f"/annotate/{leased.pk}/submit/" in card  # the same record, to label again
    assert not Annotation.objects.exists()
    client.post(
        f"/p/{project.slug}/annotate/{leased.pk}/submit/",
        {"label": "positive", "seconds": "2.5"},
        **HTMX,
    )
    stored = Annotation.objects.get()
    assert (stored.value, stored.seconds_spent) == ("positive", 2.5)


@pytest.mark.django_db
def test_a_bad_suggestion_id_is_refused_and_a_plain_post_says_why(client, project, leased):
    page = client.post(
        f"/p/{project.slug}/annotate/{leased.pk}/submit/",
        {"label": "positive", "suggestion": "x"},
        follow=True,
    ).content.decode()
    assert "suggestion: Enter a whole number." in page
    assert not Annotation.objects.exists()


@pytest.mark.django_db
def test_an_overlong_skip_reason_is_refused_and_the_record_stays_leased(client, project, leased):
    card = client.post(
        f"/p/{project.slug}/annotate/{leased.pk}/skip/", {"reason": "x" * 201}, **HTMX
    ).content.decode()
    assert "reason: Ensure this value has at most 200 characters" in card
    assert Assignment.objects.get(pk=leased.pk).state == "leased"


@pytest.mark.django_db
def test_a_comment_without_text_or_flag_is_refused_and_one_with_a_flag_is_kept(
    client, project, leased
):
    url = f"/p/{project.slug}/annotate/{leased.pk}/comment/"
    card = client.post(url, {"text": "   "}, **HTMX).content.decode()
    assert "write a comment or flag the record" in card
    assert not Comment.objects.exists()
    card = client.post(url, {"text": "sarcasm?", "flag": "on"}, **HTMX).content.decode()
    assert "Flagged for a curator." in card
    assert Comment.objects.get().text == "sarcasm?"


@pytest.mark.django_db
def test_a_revision_with_a_broken_timer_keeps_the_old_label(client, project, leased):
    client.post(f"/p/{project.slug}/annotate/{leased.pk}/submit/", {"label": "negative"}, **HTMX)
    original = Annotation.objects.get()
    card = client.post(
        f"/p/{project.slug}/annotate/edit/{original.pk}/revise/",
        {"label": "positive", "seconds": "-1"},
        **HTMX,
    ).content.decode()
    assert "seconds: Ensure this value is greater than or equal to 0." in card
    assert list(Annotation.objects.values_list("value", flat=True)) == ["negative"]


@pytest.mark.django_db
def test_adjudicating_with_a_non_numeric_adopt_is_refused_not_a_server_error(
    client, project, admin_user, leased
):
    record = leased.record
    client.force_login(admin_user)
    page = client.post(
        f"/p/{project.slug}/review/{record.pk}/adjudicate/", {"adopt": "first"}, follow=True
    )
    assert page.status_code == 200
    assert f"Record {record.pk} not settled: adopt: Enter a whole number." in page.content.decode()
    assert not Annotation.objects.filter(source=Source.REVIEW).exists()
