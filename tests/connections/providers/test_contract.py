"""The contract between providers and the platform (connections/providers/contract.py)."""

from __future__ import annotations

from connections.choices import RoleStatusChoices
from connections.providers.contract import RoleStatus


def test_role_statuses_of_the_contract_match_the_model_choices() -> None:
    """Providers report statuses as plain strings; the model's choices must offer exactly those."""

    assert [s.value for s in RoleStatus] == list(RoleStatusChoices.values)
