"""Our own evaluator for AWS IAM policy documents, and the trust-policy analysis of a connection role.

Why our own: moto (what the tests run against) does not implement `simulate_principal_policy` /
`simulate_custom_policy` and does not enforce trust policies at all (TESTING.md), and the real
simulator would need extra permissions in the customer's account anyway. Role validation only needs
a well-defined subset of IAM's evaluation logic, implemented here and tested on its own:

* **Actions** match case-insensitively (IAM action names are not case sensitive), with `*` (any run
  of characters) and `?` (one character) wildcards; `NotAction` means "every action except these".
* **Effects**: an explicit `Deny` beats any `Allow`; no matching `Allow` is an implicit deny.
* **Resources**: we answer "may this identity call the action at all?", i.e. we evaluate against the
  resource `"*"`. A statement whose `Resource` is `"*"` covers every resource; any other `Resource`
  (or a `NotResource`) covers only some, which we report as **scoped**. A scoped `Allow` still makes
  the action `"allowed"`, and `Decision.label` says `"allowed (scoped)"`. A scoped `Deny` only
  becomes `"denied"` when it covers every resource the `Allow` statements grant (a deny pattern
  matching each allowed ARN pattern, e.g. deny `arn:aws:s3:::*` over allow `arn:aws:s3:::logs/*`).
* **Conditions** are not evaluated (we do not know the request context); a statement that has one is
  noted as **conditional**. A conditional `Allow` still counts as allowed (flagged), a conditional
  `Deny` does not count as a deny (flagged as `partially_denied`): that keeps the very common
  "deny outside these regions" guard rails from making every action look denied.
* **Permissions boundaries** (optional): an action must also be allowed by the boundary.

Representation of `granted_actions` / `denied_actions`: the statements' action patterns as written
(wildcards kept, e.g. `ec2:*`), service prefix lower-cased, deduplicated case-insensitively and
sorted. A `NotAction` statement becomes one entry `"* except a, b"` (it grants everything but those).

Least-privilege findings (`least_privilege_findings`): Allow statements with wildcard actions (`*`,
`service:*`, `NotAction`) or every resource (`*`), and AWS's well-known administrator policies
(AdministratorAccess, PowerUserAccess, IAMFullAccess). Advice only: they never change a decision.

Trust-policy analysis (`analyze_trust_policy`) returns human-readable problems: the platform's account
is not trusted for `sts:AssumeRole`, the trust is open to everyone, or the External ID that prevents
the confused-deputy problem is not required exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

__all__ = [
    "ALLOWED",
    "DENIED",
    "IMPLICIT_DENY",
    "NOT_ACTION_PREFIX",
    "Decision",
    "PolicyError",
    "Statement",
    "action_matches",
    "analyze_trust_policy",
    "denied_actions",
    "evaluate",
    "evaluate_detailed",
    "granted_actions",
    "least_privilege_findings",
    "load_statements",
    "parse_policy",
]

ALLOWED = "allowed"
DENIED = "denied"
IMPLICIT_DENY = "implicit_deny"
# How a NotAction statement is listed in granted/denied actions: "* except iam:*, organizations:*".
NOT_ACTION_PREFIX = "* except "

ASSUME_ROLE = "sts:AssumeRole"
EXTERNAL_ID_KEY = "sts:externalid"


class PolicyError(ValueError):
    """A policy document we cannot read (bad JSON, no Statement, an Effect other than Allow/Deny)."""


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------


def _strings(value: Any, what: str) -> tuple[str, ...]:
    """IAM lets most elements be a string or a list of strings; normalize to a tuple."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise PolicyError(f"{what} must be a string or a list of strings.")


@dataclass(frozen=True)
class Statement:
    """One statement of a policy, normalized: every list-or-string element is a tuple."""

    effect: str
    actions: tuple[str, ...]
    not_action: bool = False
    resources: tuple[str, ...] = ("*",)
    not_resource: bool = False
    conditions: Mapping[str, Any] = field(default_factory=dict)
    principal: Any = None
    not_principal: Any = None
    sid: str = ""
    label: str = ""

    @property
    def allows(self) -> bool:
        return self.effect == "Allow"

    @property
    def conditional(self) -> bool:
        return bool(self.conditions)

    @property
    def all_resources(self) -> bool:
        """Covers every resource: `Resource` includes "*" (a `NotResource` always leaves some out)."""
        return not self.not_resource and "*" in self.resources

    def matches_action(self, action: str) -> bool:
        hit = any(action_matches(pattern, action) for pattern in self.actions)
        return not hit if self.not_action else hit

    def covers_resource_pattern(self, pattern: str) -> bool:
        """Whether this statement's resources include everything `pattern` (an ARN pattern) names.

        Treating the other pattern as a literal is exact enough: a `*` in our pattern matches its `*`.
        """
        if self.not_resource:
            return not any(_glob(p, case=True).fullmatch(pattern) for p in self.resources)
        return any(_glob(p, case=True).fullmatch(pattern) for p in self.resources)


def _load_document(doc: Any) -> Mapping[str, Any]:
    """A policy as a dict: accepts dicts, JSON text, and IAM's URL-encoded JSON (raw API answers)."""
    if isinstance(doc, bytes):
        doc = doc.decode("utf-8")
    if isinstance(doc, str):
        text = doc.strip()
        if text.startswith("%7B") or text.startswith("%7b"):
            text = unquote(text)
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise PolicyError(f"The policy is not valid JSON: {exc.msg} (line {exc.lineno}).") from None
    if not isinstance(doc, Mapping):
        raise PolicyError("A policy document must be a JSON object.")
    return doc


def _parse_statement(raw: Any, label: str) -> Statement:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{label}: a statement must be a JSON object.")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"{label}: Effect must be Allow or Deny, not {effect!r}.")
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyError(f"{label}: a statement needs exactly one of Action and NotAction.")
    not_action = "NotAction" in raw
    actions = _strings(raw.get("NotAction" if not_action else "Action"), "Action")
    not_resource = "NotResource" in raw
    resources = _strings(raw["NotResource"] if not_resource else raw.get("Resource", "*"), "Resource")
    conditions = raw.get("Condition") or {}
    if not isinstance(conditions, Mapping):
        raise PolicyError(f"{label}: Condition must be a JSON object.")
    sid = str(raw.get("Sid") or "")
    return Statement(
        effect=effect,
        actions=actions,
        not_action=not_action,
        resources=resources,
        not_resource=not_resource,
        conditions=dict(conditions),
        principal=raw.get("Principal"),
        not_principal=raw.get("NotPrincipal"),
        sid=sid,
        label=f"{label} ({sid})" if sid else label,
    )


def parse_policy(doc: Any, *, name: str = "policy") -> list[Statement]:
    """The statements of one policy document (dict or JSON; `Statement` as an object or a list)."""
    document = _load_document(doc)
    raw = document.get("Statement")
    if raw is None:
        raise PolicyError(f"{name}: the policy has no Statement.")
    items = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(items, list):
        raise PolicyError(f"{name}: Statement must be an object or a list.")
    return [_parse_statement(item, f"{name} statement {index + 1}") for index, item in enumerate(items)]


def load_statements(documents: Any) -> list[Statement]:
    """Statements of one document or of many: a dict/JSON text, a list of them, a mapping of name to
    document (e.g. inline policies by name), or already-parsed statements."""
    if isinstance(documents, Statement):
        return [documents]
    if isinstance(documents, str | bytes) or (isinstance(documents, Mapping) and "Statement" in documents):
        return parse_policy(documents)
    if isinstance(documents, Mapping):
        return [s for name, doc in documents.items() for s in parse_policy(doc, name=str(name))]
    statements: list[Statement] = []
    for index, doc in enumerate(documents):
        if isinstance(doc, Statement):
            statements.append(doc)
        else:
            statements.extend(parse_policy(doc, name=f"policy {index + 1}"))
    return statements


# --------------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _glob(pattern: str, *, case: bool = False) -> re.Pattern[str]:
    """IAM wildcards (`*` any run, `?` one character) as a regex; everything else is literal."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), 0 if case else re.IGNORECASE | re.DOTALL)


def action_matches(pattern: str, action: str) -> bool:
    """`s3:Get*` matches `S3:GetObject`: IAM action names are case-insensitive, `*`/`?` are wildcards."""
    return _glob(pattern.strip()).fullmatch(action.strip()) is not None


def _normalize_action(pattern: str) -> str:
    """Lower-case the service prefix (AWS's own spelling), keep the action name as written."""
    pattern = pattern.strip()
    if ":" in pattern:
        service, _, name = pattern.partition(":")
        return f"{service.lower()}:{name}"
    return pattern


# --------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """The outcome for one action. `result` is allowed / denied / implicit_deny; the flags qualify it.

    `scoped`: allowed only on some resources. `conditional`: allowed only when a Condition holds.
    `partially_denied`: a Deny applies to some resources or under a condition (not counted as denied).
    """

    action: str
    result: str
    scoped: bool = False
    conditional: bool = False
    partially_denied: bool = False
    allowed_by: tuple[str, ...] = ()
    denied_by: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.result == ALLOWED

    @property
    def label(self) -> str:
        """E.g. "allowed", "allowed (scoped)", "allowed (scoped, conditional)", "denied", "implicit_deny"."""
        if self.result != ALLOWED:
            return self.result
        notes = [name for name, on in (("scoped", self.scoped), ("conditional", self.conditional)) if on]
        return f"{ALLOWED} ({', '.join(notes)})" if notes else ALLOWED

    def as_dict(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "label": self.label,
            "scoped": self.scoped,
            "conditional": self.conditional,
            "partially_denied": self.partially_denied,
            "allowed_by": list(self.allowed_by),
            "denied_by": list(self.denied_by),
        }


def _surviving_allows(allows: list[Statement], denies: list[Statement]) -> list[Statement]:
    """Allow statements that still grant something after unconditional, resource-scoped denies."""
    hard_denies = [d for d in denies if not d.conditional]
    survivors = []
    for allow in allows:
        if allow.not_resource:  # "everything except ..." is too open-ended to be fully covered
            survivors.append(allow)
            continue
        if any(not any(d.covers_resource_pattern(p) for d in hard_denies) for p in allow.resources):
            survivors.append(allow)
    return survivors


def _decide(statements: list[Statement], action: str) -> Decision:
    matching = [s for s in statements if s.matches_action(action)]
    allows = [s for s in matching if s.allows]
    denies = [s for s in matching if not s.allows]
    full_denies = [d for d in denies if d.all_resources and not d.conditional]
    if full_denies:
        return Decision(action, DENIED, denied_by=tuple(d.label for d in full_denies))
    survivors = _surviving_allows(allows, denies)
    partial = bool(denies)
    if allows and not survivors:
        return Decision(action, DENIED, denied_by=tuple(d.label for d in denies))
    if not survivors:
        return Decision(action, IMPLICIT_DENY, partially_denied=partial, denied_by=tuple(d.label for d in denies))
    return Decision(
        action,
        ALLOWED,
        scoped=not any(s.all_resources for s in survivors),
        conditional=not any(not s.conditional for s in survivors),
        partially_denied=partial,
        allowed_by=tuple(s.label for s in survivors),
        denied_by=tuple(d.label for d in denies),
    )


def _with_boundary(decision: Decision, bound: Decision) -> Decision:
    """An identity-policy decision limited by the permissions boundary's decision for the same action:
    the action must be allowed by both, and a deny in either wins."""
    if not decision.allowed:
        return decision
    if not bound.allowed:
        labels = tuple(f"permissions boundary: {label}" for label in bound.denied_by)
        return Decision(decision.action, bound.result, denied_by=decision.denied_by + labels)
    return Decision(
        decision.action,
        ALLOWED,
        scoped=decision.scoped or bound.scoped,
        conditional=decision.conditional or bound.conditional,
        partially_denied=decision.partially_denied or bound.partially_denied,
        allowed_by=decision.allowed_by,
        denied_by=decision.denied_by + bound.denied_by,
    )


def evaluate_detailed(documents: Any, actions: Iterable[str], *, boundary: Any = None) -> dict[str, Decision]:
    """A `Decision` per action, against resource "*" (see the module docstring for the semantics)."""
    statements = load_statements(documents)
    bound = load_statements(boundary) if boundary is not None else None
    decisions: dict[str, Decision] = {}
    for action in actions:
        decision = _decide(statements, action)
        if bound is not None:
            decision = _with_boundary(decision, _decide(bound, action))
        decisions[action] = decision
    return decisions


def evaluate(documents: Any, actions: Iterable[str], *, boundary: Any = None) -> dict[str, str]:
    """{action: "allowed" | "denied" | "implicit_deny"}; scoped or conditional allows count as allowed
    (use `evaluate_detailed` for the qualifiers)."""
    return {a: d.result for a, d in evaluate_detailed(documents, actions, boundary=boundary).items()}


def _patterns(statements: Iterable[Statement]) -> list[str]:
    seen: dict[str, str] = {}
    for statement in statements:
        if statement.not_action:
            excluded = sorted({_normalize_action(a) for a in statement.actions}, key=str.lower)
            entries = [NOT_ACTION_PREFIX + ", ".join(excluded)]
        else:
            entries = [_normalize_action(a) for a in statement.actions]
        for entry in entries:
            seen.setdefault(entry.lower(), entry)
    return sorted(seen.values(), key=lambda e: (e.lower(), e))


def granted_actions(documents: Any) -> list[str]:
    """The action patterns Allow statements grant (wildcards kept), sorted; NotAction as "* except …"."""
    return _patterns(s for s in load_statements(documents) if s.allows)


def denied_actions(documents: Any) -> list[str]:
    """The action patterns Deny statements deny (including conditional and scoped denies), sorted."""
    return _patterns(s for s in load_statements(documents) if not s.allows)


# --------------------------------------------------------------------------------------------------
# Least privilege
# --------------------------------------------------------------------------------------------------

# AWS managed policies that hand out administration (of everything, of everything but IAM, of IAM).
ADMIN_POLICIES = {
    "administratoraccess": "AdministratorAccess grants every action on every resource.",
    "poweruseraccess": "PowerUserAccess grants every action except most of IAM and Organizations.",
    "iamfullaccess": "IAMFullAccess lets the role create users and roles with any permission (escalation).",
}


def _statement_findings(statement: Statement) -> list[tuple[str, str]]:
    findings: list[tuple[str, str]] = []
    if statement.not_action:
        excluded = ", ".join(sorted({_normalize_action(a) for a in statement.actions}, key=str.lower))
        findings.append(
            ("wildcard_action", f"{statement.label}: NotAction allows every action except {excluded}.")
        )
    else:
        actions = (a.strip() for a in statement.actions)
        broad = sorted({_normalize_action(a) for a in actions if a == "*" or a.endswith(":*")})
        if broad:
            quoted = ", ".join(f'"{a}"' for a in broad)
            findings.append(
                ("wildcard_action", f"{statement.label}: Action {quoted} allows every action of the service.")
                if "*" not in broad
                else ("wildcard_action", f'{statement.label}: Action "*" allows every action of every service.')
            )
    if statement.all_resources:
        findings.append(
            ("wildcard_resource", f'{statement.label}: Resource "*" applies to every resource in the account.')
        )
    return findings


def least_privilege_findings(documents: Mapping[str, Any], *, managed: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(code, message) pairs: known administrator policies among `managed` (the attached managed
    policies' names), then wildcard actions and resources of the Allow statements of `documents`
    (label -> document). A known administrator policy is reported once, not statement by statement."""
    findings: list[tuple[str, str]] = []
    admin_names = set()
    for name in managed:
        if name.lower() in ADMIN_POLICIES:
            admin_names.add(name)
            findings.append(("admin_policy", f"Managed policy {name} is attached: {ADMIN_POLICIES[name.lower()]}"))
    for label, document in documents.items():
        if any(label.endswith(f" {name}") for name in admin_names):
            continue
        for statement in parse_policy(document, name=str(label)):
            if statement.allows:
                findings.extend(_statement_findings(statement))
    return findings


# --------------------------------------------------------------------------------------------------
# Trust policies
# --------------------------------------------------------------------------------------------------

_PRINCIPAL_ARN = re.compile(r"^arn:aws(?:-cn|-us-gov)?:(?:iam|sts)::(\d{12}):")


def _aws_principals(principal: Any) -> tuple[str, ...]:
    """The AWS principals a Principal element names; ("*",) for the anonymous/everyone forms."""
    if principal == "*":
        return ("*",)
    if isinstance(principal, Mapping):
        for key, value in principal.items():
            if key.upper() == "AWS":
                return tuple(v.strip() for v in _strings(value, "Principal.AWS"))
    return ()


def _principal_account(principal: str) -> str | None:
    """The account a principal belongs to: a bare account id, or any IAM/STS ARN in that account."""
    if re.fullmatch(r"\d{12}", principal):
        return principal
    match = _PRINCIPAL_ARN.match(principal)
    return match.group(1) if match else None


def _is_open(statement: Statement) -> bool:
    """Trusts anyone: Principal "*" / {"AWS": "*"}, or Allow with NotPrincipal (everyone but a few)."""
    return "*" in _aws_principals(statement.principal) or (statement.allows and statement.not_principal is not None)


def _trusts_platform(statement: Statement, platform_account_id: str) -> bool:
    return any(_principal_account(p) == platform_account_id for p in _aws_principals(statement.principal))


def _external_id_conditions(statement: Statement) -> list[tuple[str, tuple[str, ...]]]:
    """(operator, values) for every condition on sts:ExternalId in the statement (keys are case-insensitive)."""
    found = []
    for operator, block in statement.conditions.items():
        if not isinstance(block, Mapping):
            continue
        for key, values in block.items():
            if key.lower() == EXTERNAL_ID_KEY:
                raw = values if isinstance(values, list | tuple) else [values]
                found.append((operator, tuple(str(v) for v in raw)))
    return found


def _exact(operator: str, values: tuple[str, ...], external_id: str) -> bool:
    """StringEquals / StringLike (no set operator, no IfExists) with exactly our value and nothing else."""
    if operator not in ("StringEquals", "StringLike") or not values:
        return False
    return all(v == external_id for v in values)


def _external_id_problem(statement: Statement, external_id: str, where: str) -> str | None:
    """Why `statement` does not pin the External ID to ours, or None when it does."""
    conditions = _external_id_conditions(statement)
    if any(_exact(op, values, external_id) for op, values in conditions):
        return None
    deputy = "so any other customer of the platform could make it assume this role (confused deputy)"
    fix = f'Use "Condition": {{"StringEquals": {{"sts:ExternalId": "{external_id}"}}}}.'
    if not conditions:
        return f"The trust policy{where} does not require the External ID, {deputy}. {fix}"
    operators = sorted({op for op, _ in conditions})
    values = [v for _, vs in conditions for v in vs]
    shown = ", ".join(repr(v) for v in values)
    if any(op.endswith("IfExists") or op.startswith("ForAllValues:") for op in operators):
        return (
            f"The trust policy{where} checks the External ID with {', '.join(operators)}, which also passes "
            f"when no External ID is sent, {deputy}. {fix}"
        )
    if any("*" in v or "?" in v for v in values):
        return f"The trust policy{where} accepts any External ID matching {shown}, {deputy}. {fix}"
    if external_id in values:
        return f"The trust policy{where} also accepts External IDs other than this connection's, {deputy}. {fix}"
    if set(operators) <= {"StringEquals", "StringLike"}:
        return (
            f"The trust policy{where} requires a different External ID ({shown}) than this connection's: "
            f"the platform cannot assume the role with it. {fix}"
        )
    return (
        f"The trust policy{where} does not require exactly this connection's External ID "
        f"({', '.join(operators)}), {deputy}. {fix}"
    )


def _open_problem(statement: Statement, platform_account_id: str) -> str:
    return (
        f"The trust policy lets any AWS principal assume this role ({statement.label}): anyone who knows "
        "its ARN could use it, which is the confused-deputy problem at its widest. Trust only "
        f"arn:aws:iam::{platform_account_id}:root."
    )


def _untrusted_problem(allows: list[Statement], platform_account_id: str) -> str:
    others = sorted({p for s in allows for p in _aws_principals(s.principal)})
    named = f" (it trusts {', '.join(others)})" if others else ""
    return (
        f"The trust policy does not let the platform's AWS account {platform_account_id} assume this role{named}. "
        "Add an Allow statement for sts:AssumeRole with "
        f'"Principal": {{"AWS": "arn:aws:iam::{platform_account_id}:root"}}.'
    )


def _denies_platform(statement: Statement, platform_account_id: str) -> bool:
    if statement.allows or statement.conditional or not statement.all_resources:
        return False
    principals = _aws_principals(statement.principal)
    return "*" in principals or any(_principal_account(p) == platform_account_id for p in principals)


def analyze_trust_policy(doc: Any, *, platform_account_id: str, external_id: str | None) -> list[str]:
    """Problems of a role's trust policy for use by the platform; an empty list means it is sound.

    Checks that some Allow statement for sts:AssumeRole trusts the platform's account (its root, any
    principal ARN in it, or the bare account id), that no statement trusts everyone, that nothing
    denies the platform outright, and, when `external_id` is given, that every statement the platform
    could assume the role through requires exactly that External ID.
    """
    try:
        statements = load_statements(doc)
    except PolicyError as exc:
        return [f"The trust policy cannot be read: {exc}"]
    assume = [s for s in statements if s.matches_action(ASSUME_ROLE)]
    allows = [s for s in assume if s.allows]
    open_ = [s for s in allows if _is_open(s)]
    trusting = [s for s in allows if _trusts_platform(s, platform_account_id) and s not in open_]
    problems = [_open_problem(s, platform_account_id) for s in open_]
    if not trusting and not open_:
        problems.append(_untrusted_problem(allows, platform_account_id))
    problems += [
        f"The trust policy explicitly denies sts:AssumeRole to the platform ({s.label})."
        for s in assume
        if _denies_platform(s, platform_account_id)
    ]
    if external_id:
        for statement in trusting + open_:
            where = f" ({statement.label})" if len(allows) > 1 else ""
            problem = _external_id_problem(statement, external_id, where)
            if problem and problem not in problems:
                problems.append(problem)
    return problems
