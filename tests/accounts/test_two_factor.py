"""Optional TOTP two-factor authentication (issue 8, item 4): enrolment with a locally rendered QR code,
recovery codes shown once, disabling with the password, the second step at sign-in on the page and on
the token endpoint, and an organization requiring it of its admins (service, page, API, enforcement)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from accounts.audit import verify_chains
from accounts.authn import services as authn_services
from accounts.authn import twofactor
from accounts.models import APIToken, AuditEvent, Organization
from accounts.policy import Action
from tests.conftest import PASSWORD, make_member
from tests.permissions import Case, PermissionMatrix

pytestmark = pytest.mark.django_db


def totp_code(key_hex: str, step_offset: int = 0) -> str:
    """The code an authenticator app shows (computed independently of the platform's verification)."""
    totp = TOTP(bytes.fromhex(key_hex))
    totp.time = time.time() + 30 * step_offset
    return f"{totp.token():06d}"


def enrol(user) -> tuple[str, list[str]]:
    """Turn two-factor on for `user` through the service; returns (key, recovery codes)."""
    key = twofactor.new_key()
    codes = authn_services.do_enable_two_factor(user, actor=user, key=key, code=totp_code(key))
    return key, codes


def signed_in(user, *, verified: bool = False) -> Client:
    client = Client()
    if verified:
        client.post("/login/", {"username": user.email, "password": PASSWORD})
        key = TOTPDevice.objects.get(user=user).key
        assert client.post("/login/verify/", {"code": totp_code(key, 1)}).status_code == 302
    else:
        client.force_login(user)
    return client


def token_login(**body):
    return Client().post(
        "/api/v1/auth/token/", json.dumps({"org": "acme", **body}), content_type="application/json"
    )


# --- Enrolment ------------------------------------------------------------------------------------


def test_enrolment_shows_a_local_qr_code_and_the_recovery_codes_once(members):
    user = members["user"]
    client = signed_in(user)
    page = client.get("/account/two-factor/setup/")
    html = page.content.decode()
    assert page.status_code == 200 and "<svg" in html and "<path" in html
    assert "http://" not in html.split("<svg", 1)[1].split("</svg>", 1)[0].replace("http://www.w3.org", "")
    assert "no-store" in page["Cache-Control"]
    key = client.session["authn_enrol_key"]
    wrong = client.post("/account/two-factor/setup/", {"code": "000000" if totp_code(key) != "000000" else "111111"})
    assert wrong.status_code == 200 and "not valid" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(user=user).exists()  # nothing half-enrolled
    done = client.post("/account/two-factor/setup/", {"code": totp_code(key)})
    assert done.status_code == 200 and "no-store" in done["Cache-Control"]
    shown = [c.replace("-", "") for c in done.context["recovery_codes"]]
    assert len(shown) == 10 and set(shown) == set(StaticToken.objects.values_list("token", flat=True))
    assert TOTPDevice.objects.get(user=user).confirmed
    assert "authn_enrol_key" not in client.session
    assert client.get("/account/two-factor/setup/").status_code == 302  # once on, setup is closed
    event = AuditEvent.objects.get(action="auth.two_factor_enabled")
    assert event.org is None and event.actor_user == user and event.details == {"recovery_codes": 10}
    rows = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert key not in rows and all(code not in rows for code in shown)
    status = client.get("/account/two-factor/").content.decode()
    assert "Recovery codes left: <strong>10</strong>" in status and shown[0] not in status


def test_disabling_needs_the_password(members):
    user = members["user"]
    enrol(user)
    client = signed_in(user, verified=True)
    refused = client.post("/account/two-factor/disable/", {"password": "wrong"})
    assert refused.status_code == 200 and "Incorrect password." in refused.content.decode()
    assert twofactor.has_two_factor(user)
    assert client.post("/account/two-factor/disable/", {"password": PASSWORD}).status_code == 302
    assert not twofactor.has_two_factor(user) and not StaticToken.objects.exists()
    assert AuditEvent.objects.filter(action="auth.two_factor_disabled", actor_user=user).count() == 1


# --- Sign-in with the second factor ---------------------------------------------------------------


def test_page_sign_in_asks_for_the_code_after_the_password(members, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's own wait after a wrong code (1 s) is not tested here
    user = members["user"]
    key, _ = enrol(user)
    client = Client()
    step1 = client.post("/login/?next=/account/two-factor/", {"username": "user@acme.test", "password": PASSWORD})
    assert step1.status_code == 302 and step1["Location"] == "/login/verify/"
    assert "_auth_user_id" not in client.session  # the password alone signs nobody in
    assert client.get("/account/two-factor/").status_code == 302
    bad = client.post("/login/verify/", {"code": "12345"})
    assert bad.status_code == 200 and "_auth_user_id" not in client.session
    failed = AuditEvent.objects.get(action="auth.login_failed")
    assert failed.details == {"email": "user@acme.test", "reason": "otp", "channel": "page"}
    ok = client.post("/login/verify/", {"code": totp_code(key, 1)})
    assert ok.status_code == 302 and ok["Location"] == "/account/two-factor/"
    assert client.session["_auth_user_id"] == str(user.pk) and client.session["otp_device_id"]


def test_a_wrong_code_counts_towards_the_lockout(members, settings):
    settings.AXES_FAILURE_LIMIT = 3
    enrol(members["user"])
    client = Client()
    client.post("/login/", {"username": "user@acme.test", "password": PASSWORD})
    statuses = [client.post("/login/verify/", {"code": "000001"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert AuditEvent.objects.filter(action="auth.locked_out", details__scope="account_address").count() == 1


def test_a_recovery_code_signs_in_once(members):
    user = members["user"]
    _, codes = enrol(user)
    for expected in (302, 200):
        client = Client()
        client.post("/login/", {"username": "user@acme.test", "password": PASSWORD})
        response = client.post("/login/verify/", {"code": f"{codes[0][:5]}-{codes[0][5:]}".upper()})
        assert response.status_code == expected
    used = AuditEvent.objects.get(action="auth.recovery_code_used")
    assert used.actor_user == user and used.details == {"channel": "page", "recovery_codes_left": 9}


def test_the_pending_sign_in_expires(members, monkeypatch):
    enrol(members["user"])
    client = Client()
    client.post("/login/", {"username": "user@acme.test", "password": PASSWORD})
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 301)
    assert client.post("/login/verify/", {"code": "123456"})["Location"] == "/login/"


def test_the_token_endpoint_requires_the_second_factor(members, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's own wait after a wrong code (1 s) is not tested here
    key, codes = enrol(members["user"])
    missing = token_login(email="user@acme.test", password=PASSWORD)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "otp_required"
    wrong = token_login(email="user@acme.test", password=PASSWORD, otp="000000" if totp_code(key) != "000000" else "1")
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "otp_invalid"
    assert not APIToken.objects.exists()
    assert AuditEvent.objects.filter(action="auth.login_failed", details__reason="otp", details__channel="api").exists()
    assert token_login(email="user@acme.test", password="nope", otp=totp_code(key)).status_code == 401
    ok = token_login(email="user@acme.test", password=PASSWORD, otp=totp_code(key, 1))  # enrolment used this step
    assert ok.status_code == 201, ok.content
    assert token_login(email="user@acme.test", password=PASSWORD, otp=codes[1]).status_code == 201
    assert AuditEvent.objects.get(action="auth.recovery_code_used").details["channel"] == "api"
    # Users without two-factor are unaffected (control).
    assert token_login(email="viewer@acme.test", password=PASSWORD).status_code == 201


def test_the_admin_site_signs_in_through_the_platform_login(members):
    response = Client().get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=/admin/")
    assert signed_in(members["viewer"]).get("/admin/login/").status_code == 403


# --- An organization requiring two-factor for its admins ------------------------------------------


def test_requiring_two_factor_is_an_admin_decision_audited_in_the_org(org, members):
    admin = members["admin"]
    with pytest.raises(ValidationError) as refused:
        authn_services.do_set_admin_two_factor(org, actor=admin, require_admin_2fa=True)
    assert "your own account first" in str(refused.value)
    enrol(admin)
    with pytest.raises(PermissionDenied):
        authn_services.do_set_admin_two_factor(org, actor=members["provisioner"], require_admin_2fa=True)
    authn_services.do_set_admin_two_factor(org, actor=admin, require_admin_2fa=True)
    assert Organization.objects.get(pk=org.pk).require_admin_2fa
    event = AuditEvent.objects.get(action="org.security_updated")
    assert event.org == org and event.details == {"changes": {"require_admin_2fa": {"old": False, "new": True}}}
    assert verify_chains()[1] == []


def test_security_page_and_api(org, members):
    admin = members["admin"]
    enrol(admin)
    client = signed_in(admin, verified=True)
    page = client.get("/o/acme/security/")
    assert page.status_code == 200 and "admin@acme.test" in page.content.decode()
    assert client.post("/o/acme/security/", {"require_admin_2fa": "on"}).status_code == 302
    assert Organization.objects.get(pk=org.pk).require_admin_2fa
    assert signed_in(members["provisioner"]).get("/o/acme/security/").status_code == 403
    _, value = services.do_create_token(org, actor=admin, name="ci")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {value}")
    assert api.get("/api/v1/orgs/acme/security/").json() == {
        "require_admin_2fa": True,
        "admins_without_two_factor": [],
    }
    make_member(org, "admin", email="second-admin@acme.test")
    off = api.patch("/api/v1/orgs/acme/security/", {"require_admin_2fa": False}, content_type="application/json")
    assert off.status_code == 200
    assert off.json() == {"require_admin_2fa": False, "admins_without_two_factor": ["second-admin@acme.test"]}
    unchanged = api.patch("/api/v1/orgs/acme/security/", {}, content_type="application/json")
    assert unchanged.status_code == 200 and unchanged.json()["require_admin_2fa"] is False
    bad = api.patch("/api/v1/orgs/acme/security/", {"require_admin_2fa": "maybe"}, content_type="application/json")
    assert bad.status_code == 400 and "require_admin_2fa" in bad.json()["error"]["fields"]
    _, viewer_token = services.do_create_token(org, actor=members["viewer"], name="v")
    viewer = Client(HTTP_AUTHORIZATION=f"Bearer {viewer_token}")
    assert viewer.get("/api/v1/orgs/acme/security/").status_code == 403
    assert viewer.get("/api/v1/orgs/globex/security/").status_code == 404


def test_admins_without_two_factor_are_sent_to_enrolment_first(org, members, other_org):
    admin = members["admin"]
    enrol(admin)
    authn_services.do_set_admin_two_factor(org, actor=admin, require_admin_2fa=True)
    second = make_member(org, "admin", email="second-admin@acme.test")
    client = signed_in(second)
    for path in ("/o/acme/", "/o/acme/environments/", "/o/acme/connections/", "/o/acme/security/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/account/two-factor/setup/?next=")
    # Another organization that does not require it is unaffected; so are non-admins here.
    make_member(other_org, "admin", email="second-admin-elsewhere@globex.test")
    assert signed_in(members["viewer"]).get("/o/acme/").status_code == 200
    # Through the API: a token of that admin is refused in this organization, with a reason.
    _, value = services.do_create_token(org, actor=second, name="old")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {value}")
    refused = api.get("/api/v1/orgs/acme/environments/")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "two_factor_required"
    assert api.get("/api/v1/me").status_code == 200
    renamed = api.patch("/api/v1/orgs/acme/", {"name": "Pwned"}, content_type="application/json")
    assert renamed.status_code == 403 and Organization.objects.get(pk=org.pk).name == "Acme"
    no_token = token_login(email="second-admin@acme.test", password=PASSWORD)
    assert no_token.status_code == 403 and no_token.json()["error"]["code"] == "two_factor_required"
    # After enrolling, the same admin is let in.
    client.get("/account/two-factor/setup/")
    key = client.session["authn_enrol_key"]
    assert client.post("/account/two-factor/setup/?next=/o/acme/", {"code": totp_code(key)}).status_code == 200
    assert client.get("/o/acme/").status_code == 200
    assert api.get("/api/v1/orgs/acme/environments/").status_code == 200


def test_an_unverified_session_of_an_enrolled_admin_must_verify(org, members):
    admin = members["admin"]
    key, _ = enrol(admin)
    authn_services.do_set_admin_two_factor(org, actor=admin, require_admin_2fa=True)
    client = signed_in(admin)  # a session that never used the second factor
    response = client.get("/o/acme/environments/")
    assert response.status_code == 302 and response["Location"] == "/login/verify/?next=%2Fo%2Facme%2Fenvironments%2F"
    verified = client.post(response["Location"], {"code": totp_code(key, 1)})
    assert verified.status_code == 302 and verified["Location"] == "/o/acme/environments/"
    assert client.get("/o/acme/environments/").status_code == 200


class TestSecurityRoleTable(PermissionMatrix):
    """The security settings, page and API: admins only (Action.MANAGE_SECURITY); another organization's
    are 404; anonymous requests are sent to sign in; a refused request changes nothing."""

    cases = [
        Case.page("get", "/o/{org}/security/", Action.MANAGE_SECURITY),
        Case.page("post", "/o/{org}/security/", Action.MANAGE_SECURITY, body={}),
        Case.api("get", "/api/v1/orgs/{org}/security/", Action.MANAGE_SECURITY),
        Case.api("patch", "/api/v1/orgs/{org}/security/", Action.MANAGE_SECURITY, body={"require_admin_2fa": False}),
    ]

    def snapshot(self, org: Organization) -> Any:
        return Organization.objects.get(pk=org.pk).require_admin_2fa
