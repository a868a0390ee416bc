"""Password rules beyond Django's own (AUTH_PASSWORD_VALIDATORS in config/settings.py; the README lists them all).

Django's UserAttributeSimilarityValidator refuses a password *similar* to the username as a whole, so
"alice-winter-2026" passes for alice; and a long run of one character passes the length rule.
"""

from django.core.exceptions import ValidationError

# Shorter usernames ("al") occur inside too many good passwords to refuse them all.
SHORTEST_USERNAME_CHECKED = 3


class NoUsernameInPasswordValidator:
    """Refuses a password that contains the username, in any letter case."""

    def validate(self, password, user=None):
        username = (getattr(user, "username", "") or "").casefold()
        if len(username) >= SHORTEST_USERNAME_CHECKED and username in password.casefold():
            raise ValidationError(
                "The password contains the username; choose one that does not.", code="password_contains_username"
            )

    def get_help_text(self):
        return "Your password can’t contain your username."


class NotOneRepeatedCharacterValidator:
    """Refuses a password made of one character repeated ("aaaaaaaaaaaa", "111111111111")."""

    def validate(self, password, user=None):
        if password and len(set(password)) == 1:
            raise ValidationError(
                "The password is one character repeated; choose one with different characters.",
                code="password_one_repeated_character",
            )

    def get_help_text(self):
        return "Your password can’t be one character repeated."
