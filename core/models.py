from django.conf import settings
from django.db import models
from django.utils import timezone


class UsedFormKey(models.Model):
    """A one-time form key that a save has consumed (core.form_keys). The unique constraint is the guard:
    of two submissions of one rendered form, only the first transaction can insert its key."""

    nonce = models.CharField(max_length=32)
    purpose = models.CharField(max_length=100, help_text="The form it was issued for, e.g. 'enter_results:12'.")
    used_at = models.DateTimeField(default=timezone.now)
    used_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["nonce"], name="used_form_key_once")]

    def __str__(self):
        return f"{self.purpose} used {self.used_at:%Y-%m-%d %H:%M}"
