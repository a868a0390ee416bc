"""What protects every response and every login, whichever app serves it."""

from django.utils.cache import add_never_cache_headers


class NoStoreMiddleware:
    """Nothing the app renders may be kept by a browser or a shared cache: every page shows patient data
    or belongs to one person's session, and a clinic's workstations are shared, so a page or chart left
    in the browser's cache could be shown to the next person at the keyboard without a login.

    Static files (CSS, JS) are served by WhiteNoise before this middleware and keep their far-future
    cache headers: they hold no patient data.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        add_never_cache_headers(response)  # Cache-Control: max-age=0, no-cache, no-store, must-revalidate, private
        return response
