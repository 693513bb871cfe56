"""Who acts: a `User`, an `APIToken` (acting as its user, within its organization), or the platform itself.

Every layer that records or checks an action (policy, audit, services, tasks) reads actors through these
helpers, so "who did it" means the same thing in a permission check, an audit row and a usage record.
Model classes come from the app registry at call time, so this module (and the policy module built on
it) imports no models and can be imported by `accounts.models` itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import apps

from .choices import ActorTypeChoices

if TYPE_CHECKING:
    from .models import APIToken, User

__all__ = ["SYSTEM", "PlatformOperator", "SystemActor", "acting_user", "actor_label", "split_actor"]


class SystemActor:
    """The platform itself (scheduled health checks, key rotation). Not a user: it may only perform
    the maintenance actions in `policy.SYSTEM_ACTIONS`, in any organization, and is audited as "system"."""

    is_authenticated = False
    is_active = False

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM = SystemActor()


class PlatformOperator:
    """A superuser acting through the admin site (or an operator's command), not as a member.

    Operators are usually members of no organization, so the role table would refuse them everything;
    the admin wraps `request.user` in this so services allow the few operator actions of
    `policy.OPERATOR_ACTIONS` (revoke a token, deactivate a connection, change a plan) and audit them
    under the operator's own e-mail. Only an active superuser counts; anyone else acts as nobody.
    """

    def __init__(self, user: User) -> None:
        self.user = user

    @property
    def is_valid(self) -> bool:
        return bool(self.user is not None and self.user.is_active and self.user.is_superuser)

    def __repr__(self) -> str:
        return f"PlatformOperator({self.user})"


def split_actor(actor: Any) -> tuple[User | None, APIToken | None]:
    """(user, token) for a User, an APIToken, or anything else (anonymous, SYSTEM -> (None, None))."""
    if isinstance(actor, apps.get_model("accounts", "APIToken")):
        return actor.user, actor
    if isinstance(actor, PlatformOperator):
        return (actor.user, None) if actor.is_valid else (None, None)
    if actor is not None and getattr(actor, "is_authenticated", False) and getattr(actor, "is_active", False):
        return actor, None
    return None, None


def acting_user(actor: Any) -> User | None:
    """The person behind an actor (a token's owner), for `created_by`-style columns; None for the platform."""
    return split_actor(actor)[0]


def actor_label(actor: Any) -> tuple[str, str]:
    """(actor type, label) as the audit trail and usage history store them."""
    user, token = split_actor(actor)
    if token is not None:
        return ActorTypeChoices.TOKEN, f"{user.email} (token {token.prefix}…)"
    if user is not None:
        if isinstance(actor, PlatformOperator):
            return ActorTypeChoices.USER, f"{user.email} (platform operator)"
        return ActorTypeChoices.USER, user.email
    if getattr(actor, "is_anonymous", False):  # a signed-out request (failed login, password reset request)
        return ActorTypeChoices.ANONYMOUS, "anonymous"
    return ActorTypeChoices.SYSTEM, "system"
