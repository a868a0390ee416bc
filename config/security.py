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


def client_ip_behind_proxy(request):
    """The address the login lock-out counts failures for, when a TLS proxy forwards the requests.

    REMOTE_ADDR is then the proxy's own address, the same for everyone, and locking username + address
    would again be locking the username alone. The proxy appends the address it saw to X-Forwarded-For;
    the last entry is the one it added (earlier entries come from the client and can be forged).
    """
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    last = forwarded.rsplit(",", 1)[-1].strip()
    return last or request.META.get("REMOTE_ADDR")
