"""{% load core %}: the shared template helpers (badges, plain numbers, people's names, the notice)."""

from django import template
from django.utils.html import format_html

from core import text

register = template.Library()


def badge(colour, words):
    """Words on a coloured badge (Bootstrap's text-bg-* colour): every badge of a flag, status or
    severity, so that none shows colour alone."""
    return format_html('<span class="badge flag {}">{}</span>', colour, words)


@register.filter
def plain(value):
    """A Decimal without trailing zeros or exponent: 2.3000 → 2.3, 100.0000 → 100; empty for None."""
    return "" if value is None else text.plain(value)


@register.filter
def display_name(user):
    """A user's full name, else their username; empty when there is no user."""
    return "" if user is None else text.display_name(user)


@register.simple_tag
def clinical_notice():
    return text.CLINICAL_NOTICE
