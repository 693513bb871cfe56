"""The contract between providers and the platform (connections/providers/contract.py)."""

from __future__ import annotations


def test_role_statuses_of_the_contract_match_the_model_choices() -> None:
    """Providers report statuses as plain strings; the model's choices must offer exactly those."""
    from connections.choices import RoleStatusChoices
    from connections.providers.contract import RoleStatus

    assert [s.value for s in RoleStatus] == list(RoleStatusChoices.values)
