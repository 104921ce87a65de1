"""HTML actions validate their POST through a Form: bad input is refused with the reason and
starts or stores nothing."""

import pytest

from curator.models import Job, Membership


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
