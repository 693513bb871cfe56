"""OpenID Connect issuer: the platform signs short-lived assertions that clouds trust via our JWKS.

Azure federated identity credentials, AWS AssumeRoleWithWebIdentity and GCP workload identity federation
all verify a JWT against the issuer's published keys, so no cloud secret has to be stored for them.
"""
