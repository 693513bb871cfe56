"""Microsoft Azure: everything Azure-specific lives in this package.

`provider` (fields, materialization, the connection test through azure-identity) and `roles`
(service-principal validation through Azure Resource Manager role assignments).
"""

from .provider import AzureProvider

__all__ = ["AzureProvider"]
