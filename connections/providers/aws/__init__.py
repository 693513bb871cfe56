"""Amazon Web Services: everything AWS-specific lives in this package.

`provider` (fields, materialization, the connection test), `clients` (reused boto3 clients),
`costs` (Cost Explorer for FinOps), `identity` (the platform's own account and the trust policy for it),
`roles` (IAM role validation) and `iam_policy` (our IAM policy evaluator and trust-policy analysis).
"""

from .costs import AwsCostSource
from .identity import platform_account_id, trust_policy
from .provider import AwsProvider, aws_call, referenced_credentials

# Declared here rather than in the class body: the cost source reuses the provider's credential helpers.
AwsProvider.cost_source = AwsCostSource()

__all__ = ["AwsCostSource", "AwsProvider", "aws_call", "platform_account_id", "referenced_credentials", "trust_policy"]
