"""Two-factor sign-in: after the password, the code of an authenticator app, or a recovery code.

The login page checks the password. An account with an authenticator app (a confirmed django-otp TOTP
device) then goes to the code page still signed out: the session only remembers who is waiting, and
Django's login happens when the code is right. A wrong code is a failed login for django-axes, so wrong
passwords and wrong codes add up to the same lock-out; and because axes clears an account's failures
when it signs in, a right password alone never clears the failures of wrong codes.

Administrators (staff status) must have an app, and clinicians too when TWO_FACTOR_REQUIRED_FOR_CLINICIANS
is on: RequireSecondFactorMiddleware sends such an account to set one up before it sees any other page.
Setting up the app also makes ten recovery codes (django-otp static tokens), each accepted once instead of
the app's code, for a lost phone. An administrator resets someone's app by deleting it in the admin
(Django OTP → TOTP devices); they set up a new one at their next sign-in.
"""

import base64

import qrcode
import qrcode.image.svg
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_lockout_response
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, logout
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp import devices_for_user, verify_token
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

# Who has typed the right password and is now asked for a code (the session is not signed in yet).
PENDING_USER = "two_factor_user_id"
PENDING_BACKEND = "two_factor_backend"
RECOVERY_CODE_COUNT = 10
WRONG_CODE = (
    "That code is not right. Type the 6-digit code your authenticator app shows now, or one of your recovery codes."
)
WRONG_SETUP_CODE = (
    "That code is not right. Type the 6-digit code the app shows now for Myolab (it changes every 30 seconds)."
)


def second_factor_required(user) -> bool:
    """Administrators (staff status, as the README's roles say) always; everyone else when the clinic asks."""
    if user.is_staff or user.is_superuser:
        return settings.TWO_FACTOR_REQUIRED_FOR_ADMINISTRATORS
    return settings.TWO_FACTOR_REQUIRED_FOR_CLINICIANS


def authenticator_app(user):
    """The user's authenticator app (a confirmed TOTP device), or None."""
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).first()


class RequireSecondFactorMiddleware:
    """An account that needs a second factor, in a session not signed in with one, is sent to set up its
    authenticator app before any page that needs a login; only that page and logging out stay open."""

    ALLOWED_URL_NAMES = {"two_factor_setup", "logout"}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not getattr(view_func, "login_required", True):
            return None  # the login and code pages, /healthz
        user = request.user
        if not user.is_authenticated or user.is_verified() or not second_factor_required(user):
            return None
        if request.resolver_match.url_name in self.ALLOWED_URL_NAMES:
            return None
        if authenticator_app(user) is not None:
            # An app added in the admin during this session: sign in again, this time with its code.
            logout(request)
            return redirect_to_login(request.get_full_path())
        return redirect_to_login(request.get_full_path(), login_url=reverse("two_factor_setup"))


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}),
    )

    def clean_code(self):
        # Apps show "123 456", recovery codes are printed in lower case: accept either way of typing them.
        return "".join(self.cleaned_data["code"].split()).lower()


def safe_next(request):
    """The ?next= address if it is on this site, else the worklist."""
    next_url = request.POST.get("next") or request.GET.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return next_url
    return resolve_url(settings.LOGIN_REDIRECT_URL)


class LoginView(auth_views.LoginView):
    """The password step. An account with an authenticator app goes on to the code page, not yet signed in."""

    def form_valid(self, form):
        user = form.get_user()
        if authenticator_app(user) is None:
            return super().form_valid(form)  # the middleware sends an account that needs one to set it up
        self.request.session[PENDING_USER] = user.pk
        self.request.session[PENDING_BACKEND] = user.backend
        next_url = self.get_redirect_url()
        code_url = reverse("login_code")
        return redirect(f"{code_url}?{urlencode({'next': next_url})}" if next_url else code_url)


def forget_pending(request):
    request.session.pop(PENDING_USER, None)
    request.session.pop(PENDING_BACKEND, None)


def device_accepting(user, code):
    """The user's device that accepts the code (the app, or the recovery codes, which lose the code used)."""
    for device in devices_for_user(user):
        accepted = verify_token(user, device.persistent_id, code)
        if accepted is not None:
            return accepted
    return None


@login_not_required
@never_cache
@sensitive_post_parameters("code")
def login_code(request):
    """The code step: sign in when the app's code or a recovery code is right; a wrong one counts as a
    failed login, and the lock-out page answers once the account's failures reach the limit."""
    user = get_user_model().objects.filter(pk=request.session.get(PENDING_USER), is_active=True).first()
    if user is None:
        return redirect("login")
    credentials = {"username": user.get_username()}
    if AxesProxyHandler.is_locked(request, credentials):
        forget_pending(request)
        return get_lockout_response(request, credentials=credentials)

    form = CodeForm(request.POST or None)
    if form.is_valid():
        device = device_accepting(user, form.cleaned_data["code"])
        if device is not None:
            backend = request.session[PENDING_BACKEND]
            forget_pending(request)
            auth_login(request, user, backend=backend)
            otp_login(request, device)
            if isinstance(device, StaticDevice):
                left = device.token_set.count()
                messages.warning(
                    request,
                    f"You signed in with a recovery code; {left} left. If you have lost your phone, set up "
                    "a new authenticator app now under Two-factor sign-in.",
                )
            return redirect(safe_next(request))
        # AxesMiddleware replaces this page with the lock-out page when this failure reaches the limit.
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        if request.axes_locked_out:
            forget_pending(request)
        form.add_error("code", WRONG_CODE)
    return render(request, "registration/login_code.html", {"form": form, "next": request.GET.get("next", "")})


def qr_code_svg(text):
    """The QR code of text as inline SVG (our own markup: nothing loaded from elsewhere)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage)
    return mark_safe(image.to_string(encoding="unicode"))  # noqa: S308 - generated by qrcode, not user text


def grouped_secret(device):
    """The secret key as the app's "enter a key" screen wants it: base32, in groups of four."""
    secret = base64.b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@transaction.atomic
def replace_recovery_codes(user):
    """New recovery codes for the user; the old ones stop working."""
    device, _ = StaticDevice.objects.get_or_create(user=user, defaults={"name": "Recovery codes"})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@transaction.atomic
def confirm_authenticator_app(device):
    """The new app replaces any earlier one and comes with new recovery codes, which are returned."""
    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return replace_recovery_codes(device.user)


@never_cache
@sensitive_post_parameters("code")
def setup(request):
    """Set up an authenticator app: scan the QR code (or type the key), then type the code it shows."""
    user = request.user
    current = authenticator_app(user)
    if current is not None and not user.is_verified():
        logout(request)  # an app added in the admin during this session: its code is asked at sign-in
        return redirect_to_login(request.get_full_path())
    # The same key until it is confirmed, so reloading the page does not undo a scan.
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first() or TOTPDevice.objects.create(
        user=user, name="Authenticator app", confirmed=False
    )
    form = CodeForm(request.POST or None)
    if form.is_valid():
        if device.verify_token(form.cleaned_data["code"]):
            codes = confirm_authenticator_app(device)
            otp_login(request, device)
            return render_recovery_codes(request, codes)
        form.add_error("code", WRONG_SETUP_CODE)
    context = {
        "form": form,
        "qr_code": qr_code_svg(device.config_url),
        "secret": grouped_secret(device),
        "has_app": current is not None,
        "required": second_factor_required(user),
        "next": request.GET.get("next", ""),
    }
    return render(request, "registration/two_factor_setup.html", context)


def render_recovery_codes(request, codes):
    context = {"codes": codes, "continue_url": safe_next(request)}
    return render(request, "registration/recovery_codes.html", context)


@never_cache  # the codes are shown once: no copy in any cache
@require_POST
def new_recovery_codes(request):
    """Replace the recovery codes, from a session signed in with the authenticator app."""
    if not request.user.is_verified():
        return redirect("two_factor_setup")
    return render_recovery_codes(request, replace_recovery_codes(request.user))
