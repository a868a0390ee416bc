"""Template tags for other apps' pages, registered as the "exports" library in config/settings.py.

The patient page belongs to labs, which may not import from guidance; it loads this library instead:
{% load exports %}{% trend_charts patient %}.
"""

from django import template

from .charts import trends_for

register = template.Library()


@register.inclusion_tag("guidance/exports/includes/trend_charts.html")
def trend_charts(patient):
    return {"patient": patient, "trends": trends_for(patient)}
