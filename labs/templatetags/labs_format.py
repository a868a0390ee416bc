from django import template

from labs.models import plain

register = template.Library()


@register.filter(name="plain")
def plain_filter(value):
    """A Decimal without trailing zeros or exponent: 2.3000 → 2.3, 100.0000 → 100; empty for None."""
    return "" if value is None else plain(value)
