"""The API docs page: Swagger UI (drf-spectacular-sidecar, served locally) under the Content-Security-Policy.

The page's script is a separate request (`SpectacularSwaggerSplitView`) and its styles a static file, so it
needs no inline script or style. Swagger UI's own stylesheet draws its icons with `data:` SVG images: this
page alone adds `img-src data:` to the policy (an image cannot run code).
"""

from __future__ import annotations

from typing import Any

from csp.decorators import csp_update
from drf_spectacular.views import SpectacularSwaggerSplitView

DOCS_POLICY_UPDATE = {"img-src": ["data:"]}


class SwaggerDocsView(SpectacularSwaggerSplitView):
    template_name = "api/swagger_ui.html"


def docs_view(url_name: str) -> Any:
    """The docs view for the schema at `url_name`, with its page-specific policy."""
    return csp_update(DOCS_POLICY_UPDATE)(SwaggerDocsView.as_view(url_name=url_name))
