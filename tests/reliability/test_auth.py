"""Authentication: one throttle and one audit trail for every way in, lock-outs that cannot be
turned against someone else, API tokens that expire and rotate, the admin for staff only, and a
Content-Security-Policy the pages work under."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect
from rest_framework.authtoken.models import Token

from curator.models import AuditEvent, Membership, Role
from tests.conftest import PASSWORD, ROOT
from tests.test_browser import login, page  # noqa: F401  (the page fixture)

ATTACKER = "203.0.113.9"
VICTIM = "198.51.100.7"


def wait_passes(seconds: float) -> None:
    """As if `seconds` had passed since every remembered failure."""
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(
            attempt_time=attempt.attempt_time - timedelta(seconds=seconds)
        )


def token_post(client: Client, username: str, password: str, address: str = ATTACKER):
    return client.post(
        "/api/auth/token/",
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
    )


def login_post(client: Client, username: str, password: str, address: str = ATTACKER,
               path: str = "/login/", **extra):  # fmt: skip
    return client.post(
        path, {"username": username, "password": password}, REMOTE_ADDR=address, **extra
    )


# --- one throttle, one audit trail ---------------------------------------------------------------
@pytest.mark.django_db
def test_thirty_wrong_passwords_on_the_token_endpoint_are_throttled_and_audited(annotator):
    client = Client()
    statuses = [token_post(client, annotator.username, f"guess-{i}").status_code for i in range(30)]
    assert statuses[:4] == [400] * 4
    assert set(statuses[4:]) == {429}, statuses
    # The right password does not get through while the pair waits.
    right = token_post(client, annotator.username, PASSWORD)
    assert right.status_code == 429
    assert "token" not in right.json()
    assert int(right["Retry-After"]) >= 50
    assert "Too many failed attempts" in right.json()["detail"]
    assert not Token.objects.filter(user=annotator).exists()
    failed = AuditEvent.objects.filter(action="login.failed", target=annotator.username)
    assert failed.count() == 31
    assert {e.details["path"] for e in failed} == {"/api/auth/token/"}
    assert {e.details["address"] for e in failed} == {ATTACKER}
    assert sum(e.details["locked_out"] for e in failed) == 27
    # The web log-in is the same throttle: the pair is locked there too.
    assert login_post(client, annotator.username, PASSWORD).status_code == 429


@pytest.mark.django_db
def test_admin_login_is_throttled_and_audited(make_user):
    staff = make_user("stella", is_staff=True, is_superuser=True)
    client = Client()
    for i in range(25):
        login_post(client, staff.username, f"guess-{i}", path="/admin/login/?next=/admin/")
    response = login_post(client, staff.username, PASSWORD, path="/admin/login/?next=/admin/")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302
    assert (
        AuditEvent.objects.filter(
            action="login.failed", target=staff.username, details__path="/admin/login/"
        ).count()
        == 26
    )


@pytest.mark.django_db
def test_the_wait_grows_with_each_failure_and_a_success_forgets_them(annotator, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_DELAY_SECONDS = 60
    client = Client()
    for _ in range(3):
        login_post(client, annotator.username, "wrong")
    locked = login_post(client, annotator.username, PASSWORD)
    assert locked.status_code == 429
    assert b"Too many failed attempts" in locked.content
    assert 55 <= int(locked["Retry-After"]) <= 60
    wait_passes(61)
    # One more wrong password after the wait: locked again, for twice as long.
    again = login_post(client, annotator.username, "wrong")
    assert again.status_code == 429
    assert 115 <= int(again["Retry-After"]) <= 120
    wait_passes(121)
    assert login_post(client, annotator.username, PASSWORD).status_code == 302
    assert not AccessAttempt.objects.filter(username=annotator.username).exists()


# --- lock-outs are not a lever against others ---------------------------------------------------
@pytest.mark.django_db
def test_an_attacker_failing_with_the_victims_username_does_not_lock_the_victim_out(annotator):
    attacker = Client()
    for i in range(30):
        login_post(attacker, annotator.username, f"guess-{i}", address=ATTACKER)
        token_post(attacker, annotator.username, f"guess-{i}", address=ATTACKER)
    assert login_post(attacker, annotator.username, PASSWORD, address=ATTACKER).status_code == 429
    victim = Client()
    response = login_post(victim, annotator.username, PASSWORD, address=VICTIM)
    assert response.status_code == 302
    assert token_post(Client(), annotator.username, PASSWORD, address=VICTIM).status_code == 200


@pytest.mark.django_db
def test_invented_usernames_from_one_address_lock_out_nobody_else_behind_it(annotator):
    office = Client()
    for i in range(40):
        login_post(office, f"nobody-{i}", "wrong", address=ATTACKER)
    assert login_post(Client(), annotator.username, PASSWORD, address=ATTACKER).status_code == 302


@pytest.mark.django_db
def test_forwarded_for_is_believed_only_from_a_configured_proxy(annotator, settings):
    client = Client()
    # No proxy configured: a client that invents X-Forwarded-For stays on its own address.
    for i in range(10):
        login_post(client, annotator.username, "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}
    assert (
        login_post(
            client, annotator.username, PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.9"
        ).status_code
        == 429
    )
    # Behind one proxy, the address that proxy saw is the client's (and garbage is not stored).
    settings.CURATOR_PROXY_COUNT = 1
    proxied = login_post(Client(), annotator.username, PASSWORD, address="10.0.0.2",
                         HTTP_X_FORWARDED_FOR=f"1.2.3.4, {VICTIM}")  # fmt: skip
    assert proxied.status_code == 302
    login_post(Client(), "someone", "wrong", address="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-ip")
    assert AccessAttempt.objects.filter(username="someone").get().ip_address == "10.0.0.2"


@pytest.mark.django_db
def test_hostile_usernames_are_refused_not_crashing(annotator):
    client = Client()
    for username in ["a\x00b", "x" * 5000, "", "ünï©ødé"]:
        response = token_post(client, username, "wrong")
        assert response.status_code == 400, username
        assert response["Content-Type"] == "application/json"


# --- the API's answers to anonymous and expired tokens -----------------------------------------
@pytest.mark.django_db
def test_anonymous_api_calls_get_401_with_a_challenge(client, project):
    response = client.get(f"/api/projects/{project.slug}/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["detail"]


@pytest.mark.django_db
def test_tokens_expire_and_the_token_endpoint_hands_out_a_fresh_one(annotator, settings):
    settings.CURATOR_API_TOKEN_DAYS = 30
    first = token_post(Client(), annotator.username, PASSWORD).json()
    assert first["expires_at"] is not None
    api = Client(HTTP_AUTHORIZATION=f"Token {first['token']}")
    assert api.get("/api/projects/").status_code == 200
    Token.objects.filter(key=first["token"]).update(created=timezone.now() - timedelta(days=31))
    expired = api.get("/api/projects/")
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]
    second = token_post(Client(), annotator.username, PASSWORD).json()
    assert second["token"] != first["token"]
    assert (
        Client(HTTP_AUTHORIZATION=f"Token {second['token']}").get("/api/projects/").status_code
        == 200
    )
    settings.CURATOR_API_TOKEN_DAYS = 0  # no expiry
    Token.objects.filter(key=second["token"]).update(created=timezone.now() - timedelta(days=3650))
    assert (
        Client(HTTP_AUTHORIZATION=f"Token {second['token']}").get("/api/projects/").status_code
        == 200
    )


@pytest.mark.django_db
def test_unknown_tokens_and_inactive_users_get_401_and_change_nothing(annotator, project):
    key = Token.objects.create(user=annotator).key
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/projects/").status_code == 200
    unknown = Client(HTTP_AUTHORIZATION=f"Token {key[:-1]}x").post(
        f"/api/projects/{project.slug}/next/"
    )
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == "Invalid token."
    annotator.is_active = False
    annotator.save(update_fields=["is_active"])
    inactive = api.post(f"/api/projects/{project.slug}/next/")
    assert inactive.status_code == 401
    assert inactive.json()["detail"] == "User inactive or deleted."
    assert not project.assignments.exists()


# --- the account page: tokens and passwords ------------------------------------------------------
@pytest.mark.django_db
def test_a_user_creates_and_revokes_a_token_on_the_account_page(client, annotator):
    client.force_login(annotator)
    account = client.get("/account/")
    assert account.status_code == 200
    assert b'href="/account/"' in account.content  # the top bar links it
    created = client.post("/account/token/")
    assert created.status_code == 200
    key = Token.objects.get(user=annotator).key
    assert key.encode() in created.content
    assert key.encode() not in client.get("/account/").content  # shown once
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/projects/").status_code == 200
    assert client.post("/account/token/revoke/").status_code == 302
    assert api.get("/api/projects/").status_code == 401
    assert AuditEvent.objects.filter(actor=annotator, action="api_token.revoke").exists()


@pytest.mark.django_db
def test_changing_the_password_revokes_the_token_and_keeps_the_session(client, annotator):
    key = Token.objects.create(user=annotator).key
    client.force_login(annotator)
    new = "a-much-longer-passphrase-7"
    response = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    assert client.get("/account/").status_code == 200  # still signed in
    assert Client(HTTP_AUTHORIZATION=f"Token {key}").get("/api/projects/").status_code == 401
    assert not Token.objects.filter(user=annotator).exists()
    assert login_post(Client(), annotator.username, new).status_code == 302


@pytest.mark.django_db
def test_a_password_changed_anywhere_revokes_the_token_but_a_rehash_does_not(annotator):
    key = Token.objects.create(user=annotator).key
    annotator.set_password(PASSWORD)  # the same password, hashed again (a hasher upgrade)
    annotator.save()
    assert Token.objects.filter(key=key).exists()
    annotator.set_password("an-admin-chose-this-one-9")  # as the admin's password form does
    annotator.save()
    assert not Token.objects.filter(key=key).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("short-9", "too short"),
        ("password123", "too common"),
        ("4815162342108", "entirely numeric"),
        ("labeler-annotator", "too similar"),
    ],
)
def test_password_rules_apply_on_the_account_page(client, make_user, password, rule):
    user = make_user("labeler-annotator")
    client.force_login(user)
    response = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": password, "new_password2": password},
    )
    assert response.status_code == 400
    assert rule in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


@pytest.mark.django_db
def test_guessing_the_old_password_on_the_account_page_is_throttled(client, annotator):
    client.force_login(annotator)
    new = "a-much-longer-passphrase-7"
    for i in range(5):
        client.post(
            "/account/password/",
            {"old_password": f"guess-{i}", "new_password1": new, "new_password2": new},
            REMOTE_ADDR=ATTACKER,
        )
    response = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
        REMOTE_ADDR=ATTACKER,
    )
    assert response.status_code == 429
    annotator.refresh_from_db()
    assert annotator.check_password(PASSWORD)


# --- the admin is for staff ----------------------------------------------------------------------
@pytest.mark.django_db
def test_non_staff_users_are_turned_away_from_the_admin(client, annotator):
    client.force_login(annotator)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert b"The admin site is for staff" in response.content
    assert b"Log in" not in response.content
    anonymous = Client().get("/admin/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")


# --- Content-Security-Policy ---------------------------------------------------------------------
@pytest.mark.django_db
def test_pages_carry_a_content_security_policy_without_inline_code(client, annotator):
    client.force_login(annotator)
    policy = client.get("/").headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "Content-Security-Policy" in Client().get("/login/").headers


def test_no_template_has_inline_handlers_or_scripts():
    inline_handler = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        if inline_handler.search(text) or inline_script.search(text) or "style=" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_member_roles_and_the_account_page_work_under_the_policy(
    page,  # noqa: F811
    live_server,
    project,
    admin_user,
    annotator,
):
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Policy" in m.text else None)
    login(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/p/{project.slug}/members/")
    page.select_option(f"select[aria-label='Role of {annotator.username}']", Role.CURATOR)
    expect(page.locator(".messages")).to_contain_text(f"{annotator.username} is now curator")
    assert Membership.objects.get(project=project, user=annotator).role == Role.CURATOR
    page.click("a.who")
    expect(page.locator("h1")).to_have_text("Your account")
    page.click("button:has-text('Create token')")
    key = Token.objects.get(user=admin_user).key
    expect(page.locator("#new-token")).to_have_text(key)
    assert violations == []
