"""Amazon Web Services: everything AWS-specific lives in this package.

`provider` (fields, materialization, the connection test), `clients` (reused boto3 clients),
`identity` (the platform's own account and the trust policy for it), `roles` (IAM role validation)
and `iam_policy` (our IAM policy evaluator and trust-policy analysis).
"""

from .identity import platform_account_id, trust_policy
from .provider import AwsProvider, aws_call, referenced_credentials

__all__ = ["AwsProvider", "aws_call", "platform_account_id", "referenced_credentials", "trust_policy"]
