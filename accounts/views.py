"""The people side of the ADE: logging in (with failures rate-limited), picking the
organization to act in, one's own API keys, and an admin's members page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import ratelimit, services
from accounts.access import access_for, membership_in
from accounts.forms import ApiKeyForm, MemberForm, RoleForm
from accounts.middleware import SESSION_KEY, any_role
from config.errors import InvalidRequest, NotFound, TooManyRequests

LOGIN_SCOPE = "login"


class LoginView(auth_views.LoginView):
    """Django's login, refusing a username from an address after too many wrong passwords
    for it, and an address after too many for any (429; accounts/ratelimit.py)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            ratelimit.check(LOGIN_SCOPE, request, request.POST.get("username", ""))
        except TooManyRequests as error:
            form = self.get_form()
            form.errors.clear()
            response = render(
                request,
                "registration/login.html",
                {"form": form, "next": request.POST.get("next", ""), "refused": error.message},
                status=429,
            )
            response["Retry-After"] = str(error.retry_after)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        ratelimit.record_failure(LOGIN_SCOPE, self.request, self.request.POST.get("username", ""))
        return super().form_invalid(form)


logout = any_role(auth_views.LogoutView.as_view())


@login_required
@any_role
@require_POST
def switch_organization(request: HttpRequest) -> HttpResponse:
    membership = membership_in(request.user, request.POST.get("organization", ""))
    if membership is None:
        raise Http404("Not a member of that organization")
    request.session[SESSION_KEY] = membership.organization_id
    messages.success(request, f"Now working in {membership.organization.name}.")
    return redirect("agents:list")


# --- API keys ------------------------------------------------------------------------------


@login_required
@any_role
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    """One's own keys in the organization acted in; a new key is shown once, here."""
    access = access_for(request.user)
    form = ApiKeyForm(request.POST or None)
    created = ""
    if request.method == "POST" and form.is_valid():
        _, created = services.create_api_key(
            request.user, name=form.cleaned_data["name"], organization=access.organization
        )
        form = ApiKeyForm()
    context = {
        "form": form,
        "created": created,
        "keys": services.keys_of(request.user, access.organization),
        "access": access,
    }
    return render(request, "accounts/api_keys.html", context, status=400 if form.errors else 200)


@login_required
@any_role
@require_POST
def api_key_revoke(request: HttpRequest, key_id: str) -> HttpResponse:
    try:
        key = services.revoke_api_key(request.user, key_id)
    except NotFound:
        raise Http404("API key not found") from None
    messages.success(request, f"Revoked the key {key.prefix}….")
    return redirect(request.POST.get("back") or "accounts:api_keys")


# --- Members (admins) ----------------------------------------------------------------------


def _admin_access(request: HttpRequest) -> Any:
    access = access_for(request.user)
    if not access.is_admin:
        raise Http404("Only an organization admin can manage its members")
    return access


@login_required
@require_http_methods(["GET", "POST"])
def organization(request: HttpRequest) -> HttpResponse:
    access = _admin_access(request)
    form = MemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            added = services.add_member(
                access.organization, data["username"], data["role"], data["password"]
            )
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Added {added.user.get_username()} as {added.role}.")
            return redirect("accounts:organization")
    context = {
        "access": access,
        "form": form,
        "members": services.members(access.organization),
        "keys": services.organization_keys(access.organization),
        "role_form": RoleForm(),
    }
    return render(
        request, "accounts/organization.html", context, status=400 if form.errors else 200
    )


@login_required
@require_POST
def member_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    access = _admin_access(request)
    form = RoleForm(request.POST)
    try:
        if not form.is_valid():
            raise InvalidRequest("Choose a role: viewer, editor or admin.")
        changed = services.change_role(
            access.organization, membership_id, form.cleaned_data["role"]
        )
    except NotFound:
        raise Http404("No such member") from None
    except InvalidRequest as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{changed.user.get_username()} is now {changed.role}.")
    return redirect("accounts:organization")


@login_required
@require_POST
def member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    access = _admin_access(request)
    try:
        removed = services.remove_member(access.organization, membership_id)
    except NotFound:
        raise Http404("No such member") from None
    except InvalidRequest as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Removed {removed.user.get_username()}.")
    return redirect("accounts:organization")
