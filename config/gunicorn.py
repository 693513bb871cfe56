"""gunicorn settings for production: `gunicorn -c python:config.gunicorn config.wsgi` (README "Production").

gunicorn writes `Server: gunicorn` on every response and offers no setting to turn it off; a banner naming
the server software only helps someone match it against advisories. Its responses are built by
`gunicorn.http.wsgi.Response.default_headers`, so this file (loaded by the master before it forks workers)
wraps that method to drop the header. Everything else is gunicorn's default or the command line's.
tests/core/test_server_banner.py starts gunicorn with this file on loopback and checks the header is gone.
"""

from __future__ import annotations

from gunicorn.http import wsgi

_default_headers = wsgi.Response.default_headers


def _headers_without_server_banner(self: wsgi.Response) -> list[str]:
    return [line for line in _default_headers(self) if not line.lower().startswith("server:")]


wsgi.Response.default_headers = _headers_without_server_banner  # type: ignore[method-assign]

wsgi_app = "config.wsgi:application"
