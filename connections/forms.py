"""Page forms of the connections app, generated from the provider registry.

There is no form code per provider: `connection_form_class(provider, auth_method, mode)` builds one
Django form class from the provider's `Field` declarations, so adding a provider (one module in
`connections/providers/`) gives it its create, edit and rotate pages for free. The forms only shape
input for the `do_*` services, which own every rule; `service_error` re-keys what the services raise
(`config.<field>`, `secrets.<field>`) onto the form field of the same name so it shows next to it.

Secret fields are write-only: they render as password inputs or a textarea that never carries its
value back to the browser, not even after a validation error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from accounts.models import Environment

from .models import Connection
from .providers import REGISTRY, Field, Provider, get_provider
from .providers.contract import RoleSupport

__all__ = [
    "MODE_CREATE",
    "MODE_EDIT",
    "MODE_ROTATE",
    "AuthorizationsForm",
    "ConnectionForm",
    "SecretTextarea",
    "SelectionForm",
    "SetActiveForm",
    "connection_form_class",
    "environment_choices",
    "initial_from_connection",
]

MODE_CREATE, MODE_EDIT, MODE_ROTATE = "create", "edit", "rotate"
MULTI_LINE_KINDS = frozenset({"text", "json", "pem", "yaml"})
ROTATE_HELP = "Leave blank (or type ***) to keep the stored value."
NAME_HELP = "Lowercase letters, digits and dashes (3-63), e.g. aws-prod-account. Runs and the API refer to it."

# Names the generated forms use themselves (fields and class attributes); a provider field may not reuse them.
RESERVED_NAMES = frozenset(
    {"name", "description", "environments", "provider", "auth_method", "mode", "public_names", "secret_names", "org"}
)


class SecretTextarea(forms.Textarea):
    """A textarea for multi-line secrets (JSON keys, PEM, kubeconfig) that never renders a value.

    Django's Textarea puts the submitted value back after a validation error; for a private key that
    would send it to the browser (and its cache) again, so the user types it again instead.
    """

    def format_value(self, value: Any) -> None:
        return None


def _widget(field: Field, *, secret_widget: bool) -> forms.Widget:
    """The input for one provider field, by kind; identifiers get no autocorrect or autofill."""
    attrs: dict[str, Any] = {"autocomplete": "off", "spellcheck": "false"}
    if field.placeholder:
        attrs["placeholder"] = field.placeholder
    if field.kind in MULTI_LINE_KINDS:
        attrs["class"] = "input-code"
        attrs["rows"] = 8 if field.kind in ("json", "yaml") else 6
        return SecretTextarea(attrs=attrs) if secret_widget else forms.Textarea(attrs=attrs)
    if secret_widget:
        attrs["autocomplete"] = "new-password"  # never offer the browser's saved passwords here
        return forms.PasswordInput(attrs=attrs, render_value=False)
    if field.kind == "url":
        return forms.URLInput(attrs=attrs)
    return forms.TextInput(attrs=attrs)


def _form_field(field: Field, *, mode: str) -> forms.Field:
    """A Django form field for one provider `Field`.

    Only presence and type are checked here; the provider's validators run in the service, so the
    page and the API report the same words. On create a field with a default is pre-filled with it
    (so the user sees what will be stored) and may be left blank (the service then applies the
    default); on rotate every field is optional (blank keeps the stored value).
    """
    has_default = mode == MODE_CREATE and field.default is not None
    required = field.required and mode != MODE_ROTATE and not has_default
    help_text = field.help_text
    if has_default and field.kind != "choice":
        help_text = " ".join(filter(None, [help_text, f"Left blank: {field.default}."]))
    if field.secret and mode == MODE_ROTATE:
        help_text = " ".join(filter(None, [help_text, ROTATE_HELP]))
    common: dict[str, Any] = {"label": field.label, "required": required, "help_text": help_text}
    if has_default:
        common["initial"] = field.default
    if field.kind == "integer":
        return forms.IntegerField(
            min_value=field.min_value,
            max_value=field.max_value,
            widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
            **common,
        )
    if field.kind == "choice":
        if has_default:
            default_label = dict(field.choices).get(field.default, field.default)
            blank = [("", f"Default ({default_label})")]
        elif not required:
            blank = [("", "—")]
        elif mode == MODE_CREATE:
            blank = [("", "Select…")]
        else:
            blank = []
        return forms.ChoiceField(choices=[*blank, *field.choices], **common)
    if field.kind == "connection_ref":
        # Choices depend on the organization: filled in by ConnectionForm.__init__.
        return forms.ChoiceField(choices=[], **common)
    return forms.CharField(
        widget=_widget(field, secret_widget=field.secret),
        strip=field.kind not in MULTI_LINE_KINDS,
        **common,
    )


def environment_choices(
    environments: Iterable[Environment], taken: dict[str, str] | None = None
) -> list[tuple[str, str]]:
    """(slug, label) for environment checkboxes; `taken` (slug -> connection name) names the environment's
    current default of the provider, so the user knows ticking it adds a second (non-default) one."""
    taken = taken or {}
    choices = []
    for env in environments:
        label = env.name if env.name.lower() == env.slug else f"{env.name} ({env.slug})"
        if env.slug in taken:
            label = f"{label} — default: “{taken[env.slug]}”"
        choices.append((env.slug, label))
    return choices


class ConnectionForm(forms.Form):
    """Base of the generated forms: what the views need, whatever the provider.

    Class attributes set by `connection_form_class`: `provider` (the registry entry), `auth_method`,
    `mode`, and the names of the provider fields on this form (`public_names`, `secret_names`).
    """

    provider: ClassVar[Provider]
    auth_method: ClassVar[str]
    mode: ClassVar[str]
    public_names: ClassVar[tuple[str, ...]] = ()
    secret_names: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *args: Any,
        org: Any,
        environments: Iterable[Environment] = (),
        taken: dict[str, str] | None = None,
        exclude: Connection | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.org = org
        if "environments" in self.fields:
            self.fields["environments"].choices = environment_choices(environments, taken)
        for name in self.public_names:
            spec_field = self.spec_field(name)
            if spec_field.kind == "connection_ref":
                self.fields[name].choices = self._reference_choices(spec_field, exclude)

    def _reference_choices(self, field: Field, exclude: Connection | None) -> list[tuple[str, str]]:
        """The organization's connections a reference may point at (a reference to a reference is refused)."""
        candidates = Connection.objects.filter(
            org=self.org, provider__in=field.ref_providers, cloud_connection__isnull=True
        ).order_by("name")
        if exclude is not None:
            candidates = candidates.exclude(pk=exclude.pk)
        names = list(candidates.values_list("name", flat=True))
        empty = "Select a connection…" if names else f"No {' or '.join(field.ref_providers)} connection yet"
        return [("", empty), *((name, name) for name in names)]

    def spec_field(self, name: str) -> Field:
        spec_field = self.provider.get_field(self.auth_method, name)
        assert spec_field is not None  # the class was built from these very fields
        return spec_field

    @property
    def public_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.public_names]

    @property
    def secret_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.secret_names]

    def config_data(self) -> dict[str, Any]:
        """Public values for the service. On create a blank field is left out so its default applies;
        on edit it is sent blank, which the service reads as "clear it" (or "required")."""
        data: dict[str, Any] = {}
        for name in self.public_names:
            value = self.cleaned_data.get(name)
            if value in (None, ""):
                if self.mode == MODE_EDIT:
                    data[name] = ""
                continue
            data[name] = value
        return data

    def secret_data(self) -> dict[str, Any]:
        """Secret values typed in; blank ones are left out (on rotate: keep the stored value)."""
        return {name: value for name in self.secret_names if (value := self.cleaned_data.get(name)) not in (None, "")}

    def service_error(self, exc: ValidationError) -> ValidationError:
        """The service's error re-keyed for this form: `config.x` and `secrets.x` become field `x`.

        Keys without a field here (an `auth_method` problem, `secrets` as a whole, a field of another
        form) become non-field errors, prefixed with the field's label when there is one.
        """
        if not hasattr(exc, "error_dict"):
            return exc
        keyed: dict[str, list[str]] = {}
        for key, messages in exc.message_dict.items():
            name = key.split(".", 1)[1] if key.startswith(("config.", "secrets.")) else key
            if name in self.fields:
                keyed.setdefault(name, []).extend(messages)
            elif name in (NON_FIELD_ERRORS, "non_field_errors", "auth_method", "secrets", "config"):
                keyed.setdefault(NON_FIELD_ERRORS, []).extend(messages)
            else:
                spec_field = self.provider.get_field(self.auth_method, name)
                label = spec_field.label if spec_field else name.replace("_", " ").capitalize()
                keyed.setdefault(NON_FIELD_ERRORS, []).extend(f"{label}: {message}" for message in messages)
        return ValidationError(keyed)

    @property
    def secrets_were_cleared(self) -> bool:
        """Whether the user typed secrets that this re-rendered form does not show again."""
        return self.is_bound and any(self.data.get(name) for name in self.secret_names)


@cache
def connection_form_class(provider: str, auth_method: str, mode: str = MODE_CREATE) -> type[ConnectionForm]:
    """One form class per (provider, auth method, mode), built from the registry and cached.

    `create`: name, description, public and secret fields, environment checkboxes.
    `edit`: name, description and public fields, plus the secret fields (optional) when the auth method has
    destination fields: changing where the secret goes requires typing it again (`do_update_connection`).
    `rotate`: the secret fields only, optional (blank keeps the stored value) unless there is just one.
    Raises the registry's errors for an unknown provider or auth method (the views answer 404).
    """
    spec = get_provider(provider)
    fields = spec.fields_for(auth_method)  # raises for an unknown auth method
    clash = RESERVED_NAMES & {f.name for f in fields}
    if clash:
        raise TypeError(f"Provider {provider!r} declares fields the page forms reserve: {sorted(clash)}.")
    attrs: dict[str, Any] = {}
    if mode in (MODE_CREATE, MODE_EDIT):
        attrs["name"] = forms.CharField(
            label="Name",
            max_length=63,
            help_text=NAME_HELP,
            widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        )
        attrs["description"] = forms.CharField(label="Description", max_length=500, required=False)
    public = [f for f in fields if not f.secret] if mode != MODE_ROTATE else []
    secret = [f for f in fields if f.secret] if mode != MODE_EDIT or spec.destinations(auth_method) else []
    if mode == MODE_CREATE and spec.oauth_for(auth_method) is not None:
        secret = []  # the provider grants them through the OAuth flow (rotate keeps a manual fallback)

    for field in [*public, *secret]:
        attrs[field.name] = _form_field(field, mode=mode)
    if mode == MODE_EDIT and secret:
        labels = {f.name: f.label for f in fields}
        where = ", ".join(labels[name] for name in spec.destinations(auth_method))
        for field in secret:
            attrs[field.name].required = False
            attrs[field.name].help_text = f"Only when you change the {where}: type it again to confirm the destination."
    if mode == MODE_ROTATE and len(secret) == 1:
        # With one secret there is nothing to keep: rotating means typing its new value.
        only = secret[0]
        attrs[only.name] = _form_field(only, mode=MODE_EDIT)
    if mode == MODE_CREATE:
        attrs["environments"] = forms.MultipleChoiceField(
            label="Authorized environments",
            required=False,
            widget=forms.CheckboxSelectMultiple,
            help_text="Where these credentials may be used. You can change this later.",
        )
    attrs.update(
        provider=spec,
        auth_method=auth_method,
        mode=mode,
        public_names=tuple(f.name for f in public),
        secret_names=tuple(f.name for f in secret),
        __module__=__name__,
    )
    class_name = f"{spec.code.title().replace('_', '')}{auth_method.title().replace('_', '')}{mode.title()}Form"
    return type(class_name, (ConnectionForm,), attrs)


def initial_from_connection(form_class: type[ConnectionForm], connection: Connection) -> dict[str, Any]:
    """Initial values of an edit form: the stored public config (JSON shown as indented text)."""
    initial: dict[str, Any] = {"name": connection.name, "description": connection.description}
    for name in form_class.public_names:
        value = connection.config.get(name)
        if isinstance(value, dict | list):
            value = json.dumps(value, indent=2, sort_keys=True)
        initial[name] = value
    return initial


class AuthorizationsForm(forms.Form):
    """The set of environments a connection is authorized for (checkboxes → `do_set_authorizations`)."""

    environments = forms.MultipleChoiceField(
        label="Authorized environments",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Unticking an environment revokes it; the change applies to the next use.",
    )

    def __init__(
        self, *args: Any, environments: Iterable[Environment] = (), taken: dict[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["environments"].choices = environment_choices(environments, taken)


class SetActiveForm(forms.Form):
    """Activate (1) or deactivate (0): a deactivated connection is never selected nor used."""

    active = forms.TypedChoiceField(
        choices=[("1", "Activate"), ("0", "Deactivate")], coerce=lambda value: value == "1", empty_value=None
    )


class SetDefaultForm(forms.Form):
    """The environment (slug) whose default connection of this provider the connection becomes."""

    environment = forms.SlugField(max_length=63)


class SelectionForm(forms.Form):
    """The provider asked about on an environment's selection page (GET, so the answer has a URL)."""

    provider = forms.ChoiceField(label="Provider", choices=[])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [("", "Select a provider…")] + [
            (code, spec.label) for code, spec in REGISTRY.items()
        ]


class RoleForm(forms.Form):
    """A connection role, with the fields the connection's provider declares (`role_support.fields`);
    the rules live in `do_add_role` and the provider's `RoleSupport.clean`."""

    name = forms.CharField(label="Label", max_length=100, required=False, help_text="e.g. networking or compute.")

    def __init__(self, *args: Any, support: RoleSupport, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for spec in support.fields:
            if spec.kind == "integer":
                field: forms.Field = forms.IntegerField(required=False, initial=spec.initial)
            else:
                field = forms.CharField(max_length=2048, required=True)
            field.label, field.help_text = spec.label, spec.help_text
            self.fields[spec.name] = field
