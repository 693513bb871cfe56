"""Security headers (config/settings.py, core/middleware.py, core/api/docs.py): the Content-Security-Policy and
Permissions-Policy on every response, the API docs' page-specific policy, and templates that need no inline
script or style (the browser tests check the pages themselves: tests/e2e/test_security_headers.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connections.display import DISPLAY, provider_stylesheet

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def directives(header: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        out[name] = set(values)
    return out


@pytest.mark.parametrize("path", ["/login/", "/api/v1/me/", "/healthz", "/.well-known/openid-configuration"])
def test_every_response_carries_the_policies(client, path):
    response = client.get(path)
    policy = directives(response["Content-Security-Policy"])
    assert policy["default-src"] == policy["script-src"] == policy["style-src"] == {"'self'"}
    assert policy["object-src"] == policy["base-uri"] == policy["frame-ancestors"] == {"'none'"}
    assert policy["form-action"] == {"'self'"}
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    permissions = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in permissions


def test_api_docs_add_only_data_images_and_load_their_script_from_a_url(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    policy = directives(response["Content-Security-Policy"])
    assert policy["img-src"] == {"'self'", "data:"}
    assert policy["script-src"] == policy["style-src"] == {"'self'"}
    html = response.content.decode()
    assert "<style" not in html and re.search(r"<script>", html) is None
    assert "?script=" in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_permissions_policy_is_a_setting(client, settings):
    settings.PERMISSIONS_POLICY = "camera=(self)"
    assert client.get("/login/")["Permissions-Policy"] == "camera=(self)"


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_have_no_inline_style_or_script(template):
    text = template.read_text()
    assert " style=" not in text and "<style" not in text, "move the CSS into static/css"
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) is None, "move the script into static/"
    assert re.search(r"\son[a-z]+=", text) is None, "no inline event handlers"


def test_provider_colours_come_from_a_stylesheet(client):
    response = client.get("/assets/providers.css")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/css")
    css = response.content.decode()
    assert css == provider_stylesheet()
    for display in DISPLAY.values():
        assert f".{display.css_class} {{ --brand: {display.color};" in css
    assert client.post("/assets/providers.css").status_code in (403, 405)
