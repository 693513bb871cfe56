"""Optional TOTP two-factor authentication (django-otp's TOTP and static devices).

A user who has enrolled has one confirmed `TOTPDevice` (an authenticator app) and one `StaticDevice`
holding single-use recovery codes. Enrolment keeps the new key in the session until the first code
confirms it (`accounts.authn.services.do_enable_two_factor` then creates both devices), so an abandoned
enrolment leaves nothing behind. The QR code is rendered here, as SVG, by the `qrcode` package: no CDN,
no third party ever sees the key.

An organization may require two-factor for its admins (`Organization.require_admin_2fa`);
`requirement_unmet` says what such an admin still has to do (enrol, or verify this session).
"""

from __future__ import annotations

import secrets
from typing import Any

import qrcode
import qrcode.image.svg
from django.db import transaction
from django.http import HttpRequest
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from accounts.choices import RoleChoices
from accounts.models import Organization, User
from accounts.policy import member_role

RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
ENROL = "enrol"
VERIFY = "verify"


def has_two_factor(user: Any) -> bool:
    """Whether the user has a confirmed authenticator app (recovery codes alone do not count)."""
    if user is None or not getattr(user, "pk", None):
        return False
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).exists()


def new_key() -> str:
    """A fresh TOTP key: 20 random bytes, hex (django-otp's format)."""
    return random_hex(20)


def unsaved_device(user: User, key: str) -> TOTPDevice:
    return TOTPDevice(user=user, name=TOTP_DEVICE_NAME, key=key, confirmed=False)


def provisioning_uri(user: User, key: str) -> str:
    """The otpauth:// URI authenticator apps read (issuer: `OTP_TOTP_ISSUER`)."""
    return unsaved_device(user, key).config_url


def manual_key(user: User, key: str) -> str:
    """The key in base32, grouped by four, for typing into an app that cannot scan."""
    secret = unsaved_device(user, key).config_url.split("secret=", 1)[1].split("&", 1)[0]
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code (a white background: it scans on any page colour)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=10, border=2)
    return image.to_string(encoding="unicode")


def new_recovery_codes() -> list[str]:
    """Single-use codes: 10 characters of base32 (50 bits) each, shown as xxxxx-xxxxx."""
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return ["".join(secrets.choice(alphabet) for _ in range(10)) for _ in range(RECOVERY_CODE_COUNT)]


def format_recovery_code(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def _clean(code: str) -> str:
    return "".join(str(code or "").split()).replace("-", "").lower()[:32]


def verify_code(user: User, code: str) -> Device | None:
    """The device that accepts `code` (a 6-digit TOTP code, or a recovery code, which is then used up).

    Devices are locked while checking, so one code cannot be accepted twice concurrently; django-otp's
    own throttling (growing waits after failures, per device) applies on top of the login limits.
    """
    code = _clean(code)
    if not code:
        return None
    with transaction.atomic():
        if code.isdigit() and len(code) <= 8:  # recovery codes are 10 characters
            for device in TOTPDevice.objects.filter(user=user, confirmed=True).select_for_update():
                if device.verify_token(code):
                    return device
            return None
        for device in StaticDevice.objects.filter(user=user, confirmed=True).select_for_update():
            if device.verify_token(code):
                return device
    return None


def is_recovery_device(device: Device) -> bool:
    return isinstance(device, StaticDevice)


def recovery_codes_left(user: User) -> int:
    return sum(d.token_set.count() for d in StaticDevice.objects.filter(user=user, confirmed=True))


def is_required(user: Any, org: Organization) -> bool:
    """Whether `org` requires two-factor of this user (it does of its admins when it says so)."""
    return bool(org.require_admin_2fa) and user is not None and member_role(user, org.pk) == RoleChoices.ADMIN


def session_verified(user: Any) -> bool:
    """Whether this session's login included the second factor (django-otp's middleware knows)."""
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified()) if callable(is_verified) else False


def requirement_unmet(request: HttpRequest, org: Organization) -> str | None:
    """For a signed-in page user: ENROL (no device yet), VERIFY (this session has not used it), or None."""
    user = request.user
    if not is_required(user, org):
        return None
    if not has_two_factor(user):
        return ENROL
    return None if session_verified(user) else VERIFY


def api_requirement_unmet(user: Any, token: Any, org: Organization) -> bool:
    """For an API actor: a token counts once its user has enrolled; a session must have been verified."""
    if not is_required(user, org):
        return False
    if not has_two_factor(user):
        return True
    return token is None and callable(getattr(user, "is_verified", None)) and not user.is_verified()
