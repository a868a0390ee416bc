"""The one way views fetch a result, whichever app the view is in."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from .models import Result


def get_result_for(user, pk, *, perm):
    """The result `pk` with its analyte, patient and panel: 404 if missing, 403 without `perm`."""
    if not user.has_perm(perm):
        raise PermissionDenied
    return get_object_or_404(Result.objects.select_related("analyte", "patient", "panel__specimen_condition"), pk=pk)
