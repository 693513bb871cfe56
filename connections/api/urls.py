"""Connections API routes under /api/v1/ (filled in by connections.api.views)."""

urlpatterns: list = []
