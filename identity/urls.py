"""Routes of the OIDC issuer; the project includes them at the root (the issuer URL has no path)."""

from django.urls import path

from . import views

app_name = "identity"

urlpatterns = [
    path(".well-known/openid-configuration", views.openid_configuration, name="openid-configuration"),
    path(".well-known/jwks.json", views.jwks, name="jwks"),
]
