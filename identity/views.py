"""Public OIDC documents: discovery and JWKS.

No authentication (clouds fetch them anonymously) and cacheable for ``OIDC_DOCUMENT_MAX_AGE`` seconds: the
overlap of a rotated-out key is far longer than that, so a cached JWKS never misses a key still in use.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from . import conf, keys

CLAIMS_SUPPORTED = ["iss", "sub", "aud", "iat", "nbf", "exp", "jti"]


def _public_document(view: Any) -> Any:
    """GET/HEAD only, publicly cacheable, readable from any origin (the documents hold nothing secret).

    CSRF-exempt so that a POST (or PUT, DELETE...) is answered 405 by `require_safe`, not 403 by the CSRF check
    that ran first: nothing here reads a cookie or changes state.
    """

    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        response = view(request)
        patch_cache_control(response, public=True, max_age=conf.document_max_age())
        response["Access-Control-Allow-Origin"] = "*"
        return response

    return csrf_exempt(require_safe(wrapper))


@_public_document
def openid_configuration(request: HttpRequest) -> JsonResponse:
    """The discovery document relying parties read to find our JWKS and supported algorithms."""
    issuer = conf.issuer_url()
    return JsonResponse(
        {
            "issuer": issuer,
            "jwks_uri": conf.jwks_url(),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [keys.ALGORITHM],
            "claims_supported": CLAIMS_SUPPORTED,
        }
    )


@_public_document
def jwks(request: HttpRequest) -> JsonResponse:
    """The public keys assertions may be signed with (active plus retiring within the overlap)."""
    return JsonResponse(keys.jwks())
