"""How values and people are written, the same on every page and in every export."""

import datetime
from decimal import Decimal

# Shown at the foot of every page and in every exported summary.
CLINICAL_NOTICE = (
    "Myolab supports and does not replace clinical judgement. Interpretations and guidance are general; "
    "decide for each patient with the full clinical picture."
)


def plain(value: Decimal) -> str:
    """A Decimal without trailing zeros or exponent: 3.5000 → "3.5", 100.0000 → "100", 1E+2 → "100"."""
    return format(value.normalize(), "f")


def display_name(user) -> str:
    """A user as people know them: the full name, else the username."""
    return user.get_full_name() or user.get_username()


def age_in_years(born: datetime.date, on: datetime.date) -> int:
    """Completed years on `on` (a 29 February birthday completes a year on 1 March)."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
