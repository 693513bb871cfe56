"""Google Cloud: everything GCP-specific lives in this package.

`provider` (fields, materialization, the connection test, token helpers that GCR and the GCS backend
borrow) and `costs` (the BigQuery billing export read through the REST API, for FinOps).
"""

from .costs import GcpCostSource
from .provider import (
    GcpProvider,
    access_token,
    bigquery_table,
    external_account_info,
    google_error,
    google_request,
    lookup_project,
    referenced_token,
    run_check_context,
    service_account_token,
    workload_identity_token,
)

# Declared here, like AWS's and Azure's: the cost source reuses the provider's token helpers.
GcpProvider.cost_source = GcpCostSource()

__all__ = [
    "GcpCostSource",
    "GcpProvider",
    "access_token",
    "bigquery_table",
    "external_account_info",
    "google_error",
    "google_request",
    "lookup_project",
    "referenced_token",
    "run_check_context",
    "service_account_token",
    "workload_identity_token",
]
