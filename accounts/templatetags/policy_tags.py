"""Template tags that ask the policy module, so templates hide what the user may not do.

    {% load policy_tags %}
    {% can "manage_connections" connection as may_edit %}{% if may_edit %}...{% endif %}
    {% can "read_audit" as may_audit %}      (no object: the page's organization)
    {{ role|role_label }}                    "provisioner" -> "Provisioner"

For the current organization the layout also has `org_perms` (context processor):
`{% if org_perms.manage_environments %}`.

Hiding a control is only courtesy: the view checks the same policy and answers 403 regardless.
"""

from __future__ import annotations

from typing import Any

from django import template

from accounts.choices import RoleChoices
from accounts.policy import Action
from accounts.policy import can as policy_can

register = template.Library()


def _actor(context: template.Context) -> Any:
    request = context.get("request")
    return getattr(request, "user", None) or context.get("user")


def _allowed(actor: Any, action: str, obj: Any) -> bool:
    try:
        return obj is not None and policy_can(actor, Action(action), obj)
    except ValueError:  # an unknown action name: a template typo must not grant anything
        return False


@register.simple_tag(takes_context=True, name="can")
def can_tag(context: template.Context, action: str, obj: Any = None) -> bool:
    """`{% can "action" obj as var %}`: may the signed-in user do `action` on `obj` (default: the page's org)?"""
    target = obj if obj is not None else context.get("org") or context.get("current_org")
    return _allowed(_actor(context), action, target)


@register.filter(name="role_label")
def role_label(role: str | None) -> str:
    """The role's display label ("provisioner" -> "Provisioner") for (org, role) pairs from the switcher."""
    return str(RoleChoices(role).label) if role in RoleChoices.values else ""
