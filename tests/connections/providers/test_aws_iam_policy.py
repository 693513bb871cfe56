"""Our IAM policy evaluator and trust-policy analysis (pure functions: no database, no network)."""

from __future__ import annotations

import json

import pytest

from connections.providers.aws.iam_policy import (
    ALLOWED,
    DENIED,
    IMPLICIT_DENY,
    PolicyError,
    action_matches,
    analyze_trust_policy,
    denied_actions,
    evaluate,
    evaluate_detailed,
    granted_actions,
    parse_policy,
)

PLATFORM = "111122223333"
CUSTOMER = "123456789012"
EXTERNAL_ID = "Xk2-platform-external-id_0123456789abcdefghij"


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


# --- action matching ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("s3:Get*", "s3:GetObject", True),
        ("s3:Get*", "s3:GetBucketPolicy", True),
        ("s3:Get*", "s3:PutObject", False),
        ("s3:Get*", "s3:ListBucket", False),
        ("ec2:*", "ec2:RunInstances", True),
        ("ec2:*", "ec2messages:GetMessages", False),
        ("*", "iam:CreateUser", True),
        ("s3:?etObject", "s3:GetObject", True),
        ("s3:?etObject", "s3:GGetObject", False),
        ("S3:GETOBJECT", "s3:GetObject", True),
        ("s3:getobject", "S3:GetObject", True),
        ("s3:Get.bject", "s3:GetObject", False),  # regex characters are literal
    ],
)
def test_action_matching(pattern: str, action: str, expected: bool) -> None:
    assert action_matches(pattern, action) is expected


def test_wildcards_in_evaluation() -> None:
    doc = policy(allow(["s3:Get*", "ec2:*"]))
    assert evaluate(doc, ["s3:GetObject", "s3:PutObject", "ec2:RunInstances", "iam:PassRole"]) == {
        "s3:GetObject": ALLOWED,
        "s3:PutObject": IMPLICIT_DENY,
        "ec2:RunInstances": ALLOWED,
        "iam:PassRole": IMPLICIT_DENY,
    }
    assert evaluate(policy(allow("*")), ["iam:PassRole"]) == {"iam:PassRole": ALLOWED}


def test_not_action_allow_grants_everything_else() -> None:
    doc = policy({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"})
    result = evaluate(doc, ["ec2:RunInstances", "iam:CreateUser", "IAM:PassRole", "organizations:LeaveOrganization"])
    assert result == {
        "ec2:RunInstances": ALLOWED,
        "iam:CreateUser": IMPLICIT_DENY,
        "IAM:PassRole": IMPLICIT_DENY,
        "organizations:LeaveOrganization": IMPLICIT_DENY,
    }
    assert granted_actions(doc) == ["* except iam:*, organizations:*"]


def test_not_action_deny() -> None:
    doc = policy(allow("*"), {"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"})
    assert evaluate(doc, ["s3:GetObject", "ec2:RunInstances"]) == {"s3:GetObject": ALLOWED, "ec2:RunInstances": DENIED}


def test_explicit_deny_beats_allow() -> None:
    doc = policy(allow("s3:*"), deny("s3:DeleteBucket"))
    assert evaluate(doc, ["s3:GetObject", "s3:DeleteBucket"]) == {"s3:GetObject": ALLOWED, "s3:DeleteBucket": DENIED}


def test_wildcard_deny_beats_specific_allow() -> None:
    doc = policy(allow(["s3:GetObject", "ec2:RunInstances"]), deny("s3:*"))
    assert evaluate(doc, ["s3:GetObject", "ec2:RunInstances"]) == {
        "s3:GetObject": DENIED,
        "ec2:RunInstances": ALLOWED,
    }
    detailed = evaluate_detailed(doc, ["s3:GetObject"])["s3:GetObject"]
    assert detailed.denied_by == ("policy statement 2",)


def test_deny_across_documents() -> None:
    grants = policy(allow("*"))
    guard = policy(deny("iam:*", Sid="NoIam"))
    assert evaluate([grants, guard], ["iam:CreateUser"]) == {"iam:CreateUser": DENIED}
    assert evaluate({"admin": grants, "guard": guard}, ["iam:CreateUser"]) == {"iam:CreateUser": DENIED}
    assert evaluate_detailed({"admin": grants, "guard": guard}, ["iam:CreateUser"])["iam:CreateUser"].denied_by == (
        "guard statement 1 (NoIam)",
    )


def test_case_insensitive_actions_and_normalized_listing() -> None:
    doc = policy(allow(["S3:GetObject", "s3:getobject", "EC2:Describe*"]))
    assert evaluate(doc, ["s3:GETOBJECT", "ec2:DescribeInstances"]) == {
        "s3:GETOBJECT": ALLOWED,
        "ec2:DescribeInstances": ALLOWED,
    }
    assert granted_actions(doc) == ["ec2:Describe*", "s3:GetObject"]


def test_string_and_list_forms_are_equivalent() -> None:
    as_strings = {"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}
    as_lists = {"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]}]}
    as_json = json.dumps(as_strings)
    as_url_encoded = (
        "%7B%22Statement%22%3A%20%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Action%22%3A%20%22s3%3AGetObject%22%7D%7D"
    )
    for doc in (as_strings, as_lists, as_json, as_url_encoded):
        assert evaluate(doc, ["s3:GetObject", "s3:PutObject"]) == {
            "s3:GetObject": ALLOWED,
            "s3:PutObject": IMPLICIT_DENY,
        }
        assert granted_actions(doc) == ["s3:GetObject"]


def test_scoped_allow_is_reported_as_scoped() -> None:
    doc = policy(allow("s3:GetObject", "arn:aws:s3:::logs/*"), allow("s3:ListBucket"))
    decisions = evaluate_detailed(doc, ["s3:GetObject", "s3:ListBucket"])
    assert decisions["s3:GetObject"].result == ALLOWED
    assert decisions["s3:GetObject"].scoped is True
    assert decisions["s3:GetObject"].label == "allowed (scoped)"
    assert decisions["s3:ListBucket"].label == "allowed"
    assert evaluate(doc, ["s3:GetObject"]) == {"s3:GetObject": ALLOWED}


def test_scoped_deny_covering_every_allowed_resource_denies() -> None:
    doc = policy(allow("s3:GetObject", "arn:aws:s3:::logs/*"), deny("s3:*", "arn:aws:s3:::*"))
    assert evaluate(doc, ["s3:GetObject"]) == {"s3:GetObject": DENIED}


def test_scoped_deny_on_part_of_an_unscoped_allow_is_partial() -> None:
    doc = policy(allow("s3:*"), deny("s3:DeleteObject", "arn:aws:s3:::audit/*"))
    decision = evaluate_detailed(doc, ["s3:DeleteObject"])["s3:DeleteObject"]
    assert decision.result == ALLOWED
    assert decision.partially_denied is True


def test_conditions_are_noted_not_evaluated() -> None:
    region_guard = deny("*", Condition={"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1"]}})
    doc = policy(allow("ec2:*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}), region_guard)
    decision = evaluate_detailed(doc, ["ec2:RunInstances"])["ec2:RunInstances"]
    assert decision.result == ALLOWED
    assert decision.conditional is True
    assert decision.partially_denied is True
    assert decision.label == "allowed (conditional)"
    assert parse_policy(doc)[0].conditional is True


def test_permissions_boundary_limits_and_denies() -> None:
    identity = policy(allow("*"))
    boundary = policy(allow(["s3:*", "ec2:*"]), deny("ec2:TerminateInstances"))
    assert evaluate(identity, ["s3:GetObject", "iam:CreateUser", "ec2:TerminateInstances"], boundary=boundary) == {
        "s3:GetObject": ALLOWED,
        "iam:CreateUser": IMPLICIT_DENY,
        "ec2:TerminateInstances": DENIED,
    }


def test_granted_and_denied_actions_keep_wildcards() -> None:
    docs = [policy(allow(["ec2:*", "s3:Get*"]), deny("s3:DeleteBucket")), policy(allow("ec2:*"), allow("iam:PassRole"))]
    assert granted_actions(docs) == ["ec2:*", "iam:PassRole", "s3:Get*"]
    assert denied_actions(docs) == ["s3:DeleteBucket"]
    assert granted_actions({}) == []


@pytest.mark.parametrize(
    "doc",
    [
        "{not json",
        {"Version": "2012-10-17"},
        policy({"Effect": "Maybe", "Action": "s3:*"}),
        policy({"Effect": "Allow"}),
        policy({"Effect": "Allow", "Action": "s3:*", "NotAction": "iam:*"}),
        policy({"Effect": "Allow", "Action": 42}),
    ],
)
def test_unreadable_policies_raise(doc) -> None:
    with pytest.raises(PolicyError):
        evaluate(doc, ["s3:GetObject"])


# --- trust policies -------------------------------------------------------------------------------


def trust(principal, condition=None, **extra) -> dict:
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra}
    if condition is not None:
        statement["Condition"] = condition
    return policy(statement)


def analyze(doc, external_id: str | None = EXTERNAL_ID) -> list[str]:
    return analyze_trust_policy(doc, platform_account_id=PLATFORM, external_id=external_id)


EXACT = {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}


@pytest.mark.parametrize(
    "principal",
    [
        {"AWS": f"arn:aws:iam::{PLATFORM}:root"},
        {"AWS": [f"arn:aws:iam::{CUSTOMER}:root", f"arn:aws:iam::{PLATFORM}:role/platform-runner"]},
        {"AWS": PLATFORM},
        {"aws": f"arn:aws:sts::{PLATFORM}:assumed-role/platform/worker"},
    ],
)
def test_good_trust_policy_has_no_problem(principal) -> None:
    assert analyze(trust(principal, EXACT)) == []


def test_string_like_with_exact_value_and_case_insensitive_key_are_fine() -> None:
    root = {"AWS": f"arn:aws:iam::{PLATFORM}:root"}
    assert analyze(trust(root, {"StringLike": {"STS:EXTERNALID": EXTERNAL_ID}})) == []
    assert analyze(trust(root, {"StringEquals": {"sts:ExternalId": [EXTERNAL_ID]}})) == []


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["*"]}])
def test_trust_open_to_everyone_is_a_problem(principal) -> None:
    problems = analyze(trust(principal, EXACT))
    assert len(problems) == 1
    assert "any AWS principal" in problems[0]
    assert "confused-deputy" in problems[0]


def test_not_principal_allow_is_open() -> None:
    doc = policy(
        {"Effect": "Allow", "NotPrincipal": {"AWS": f"arn:aws:iam::{CUSTOMER}:root"}, "Action": "sts:AssumeRole"}
    )
    assert any("any AWS principal" in p for p in analyze(doc))


def test_wrong_account_is_a_problem() -> None:
    problems = analyze(trust({"AWS": "arn:aws:iam::999999999999:root"}, EXACT))
    assert len(problems) == 1
    assert f"does not let the platform's AWS account {PLATFORM} assume this role" in problems[0]
    assert "arn:aws:iam::999999999999:root" in problems[0]


def test_service_principal_only_is_a_problem() -> None:
    problems = analyze(trust({"Service": "ec2.amazonaws.com"}, EXACT))
    assert any("does not let the platform's AWS account" in p for p in problems)


def test_other_action_than_assume_role_is_not_trust() -> None:
    doc = trust({"AWS": f"arn:aws:iam::{PLATFORM}:root"}, EXACT)
    doc["Statement"][0]["Action"] = "sts:TagSession"
    assert any("does not let the platform" in p for p in analyze(doc))


def test_missing_external_id_is_a_confused_deputy() -> None:
    problems = analyze(trust({"AWS": f"arn:aws:iam::{PLATFORM}:root"}))
    assert len(problems) == 1
    assert problems[0].startswith("The trust policy does not require the External ID")
    assert "any other customer of the platform could make it assume this role (confused deputy)" in problems[0]
    assert EXTERNAL_ID in problems[0]  # the fix names the value to put in


def test_wrong_external_id_value() -> None:
    problems = analyze(trust({"AWS": f"arn:aws:iam::{PLATFORM}:root"}, {"StringEquals": {"sts:ExternalId": "other"}}))
    assert len(problems) == 1
    assert "requires a different External ID ('other')" in problems[0]


@pytest.mark.parametrize("value", ["*", "Xk2-*", EXTERNAL_ID[:-1] + "?"])
def test_external_id_wildcard_is_a_problem(value: str) -> None:
    condition = {"StringLike": {"sts:ExternalId": value}}
    problems = analyze(trust({"AWS": f"arn:aws:iam::{PLATFORM}:root"}, condition))
    assert len(problems) == 1
    assert "accepts any External ID matching" in problems[0]
    assert "(confused deputy)" in problems[0]


def test_external_id_list_with_another_value_is_a_problem() -> None:
    condition = {"StringEquals": {"sts:ExternalId": [EXTERNAL_ID, "another-customer"]}}
    problems = analyze(trust({"AWS": f"arn:aws:iam::{PLATFORM}:root"}, condition))
    assert len(problems) == 1
    assert "also accepts External IDs other than this connection's" in problems[0]


def test_external_id_if_exists_is_a_problem() -> None:
    condition = {"StringEqualsIfExists": {"sts:ExternalId": EXTERNAL_ID}}
    problems = analyze(trust({"AWS": f"arn:aws:iam::{PLATFORM}:root"}, condition))
    assert len(problems) == 1
    assert "also passes when no External ID is sent" in problems[0]


def test_every_statement_trusting_the_platform_must_require_the_external_id() -> None:
    good = trust({"AWS": f"arn:aws:iam::{PLATFORM}:root"}, EXACT)["Statement"][0]
    sloppy = trust({"AWS": f"arn:aws:iam::{PLATFORM}:role/ci"})["Statement"][0]
    problems = analyze(policy(good, sloppy))
    assert len(problems) == 1
    assert "(policy statement 2)" in problems[0]


def test_explicit_deny_of_the_platform() -> None:
    doc = trust({"AWS": f"arn:aws:iam::{PLATFORM}:root"}, EXACT)
    doc["Statement"].append({"Effect": "Deny", "Principal": "*", "Action": "sts:*"})
    assert any("explicitly denies" in p for p in analyze(doc))


def test_without_external_id_requirement_only_the_principal_matters() -> None:
    assert analyze(trust({"AWS": f"arn:aws:iam::{PLATFORM}:user/ci"}), external_id=None) == []


def test_unreadable_trust_policy_is_a_problem_not_a_crash() -> None:
    assert analyze("{oops")[0].startswith("The trust policy cannot be read")
