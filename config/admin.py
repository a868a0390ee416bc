"""The login lock-out's records (django-axes) in the admin: readable, never changed or deleted.

axes' own admin lets an administrator delete failed-login records, which would hide an attack (and
unlock the account); settings.AXES_ENABLE_ADMIN is off and these read-only versions are shown instead.
To unlock an account before the cool-off ends, run `manage.py axes_reset_username USERNAME`.
"""

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin


class ReadOnly:
    actions = None  # axes' "clean up expired attempts" deletes records too

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AccessAttempt)
class ReadOnlyAccessAttemptAdmin(ReadOnly, AccessAttemptAdmin):
    pass


@admin.register(AccessFailureLog)
class ReadOnlyAccessFailureLogAdmin(ReadOnly, AccessFailureLogAdmin):
    pass


@admin.register(AccessLog)
class ReadOnlyAccessLogAdmin(ReadOnly, AccessLogAdmin):
    pass
