"""The page an admin login gets while its username and address are locked out (django-axes,
servicekit/settings.py admin_login_settings): what happened, until when, and who can help; each
refusal is logged (lockout_response, AXES_LOCKOUT_CALLABLE), and axes' middleware that serves it,
on the admin's paths only (AxesMiddleware)."""

import logging
import math

from axes import middleware as axes_middleware
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin
from django.db.models import Max
from django.shortcuts import render
from django.utils import timezone

from servicekit.client_address import client_address
from servicekit.middleware import AdminPathsOnly

logger = logging.getLogger(__name__)

TEMPLATE = "servicekit/admin_locked_out.html"


def lockout_response(request, original_response=None, credentials=None):
    username = get_client_username(request, credentials) or ""
    address = getattr(request, "axes_ip_address", None) or client_address(request.META)
    cool_off = get_cool_off(request)
    # The lockout ends a cool-off after the last counted failure; a refused attempt during it is
    # not counted (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT), so this is a fixed moment.
    last_failure = AccessAttempt.objects.filter(username=username, ip_address=address).aggregate(
        last=Max("attempt_time")
    )["last"]
    now = timezone.now()
    until = (last_failure or now) + cool_off
    minutes_left = max(1, math.ceil((until - now).total_seconds() / 60))
    # Not the username: axes keeps it out of its log lines too (AXES_SENSITIVE_PARAMETERS), as a
    # password typed into the username field would be written there.
    logger.warning(
        "admin login refused: a username from %s is locked out after %d failed logins, for %d "
        "more minutes",
        address,
        settings.AXES_FAILURE_LIMIT,
        minutes_left,
    )
    context = {
        **admin.site.each_context(request),
        "title": "Login locked",
        "username": username,
        "failures": settings.AXES_FAILURE_LIMIT,
        "cool_off_minutes": round(cool_off.total_seconds() / 60),
        "minutes_left": minutes_left,
        "until": until,
    }
    return render(request, TEMPLATE, context, status=settings.AXES_HTTP_RESPONSE_CODE)


class AxesMiddleware(AdminPathsOnly, axes_middleware.AxesMiddleware):
    """Turns a locked-out login into lockout_response's page. Only the admin logs anyone in, so
    the other paths skip it, as they skip the session and the user (servicekit/middleware.py)."""
