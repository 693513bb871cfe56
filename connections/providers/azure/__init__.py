"""Microsoft Azure: everything Azure-specific lives in this package.

`provider` (fields, materialization, the connection test through azure-identity), `roles`
(service-principal validation through Azure Resource Manager role assignments) and `costs` (the Cost
Management query API, for FinOps).
"""

from .costs import AzureCostSource
from .provider import AzureProvider

# Declared here rather than in the class body, like AWS's: the cost source reuses the roles' token helper.
AzureProvider.cost_source = AzureCostSource()

__all__ = ["AzureCostSource", "AzureProvider"]
