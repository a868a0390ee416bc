"""What a view needs to know about the request it answers, the same for every app."""

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    """The address a request came from, or None if it is not an IP address: the access log's "from
    where", and the address the login lock-out counts failures for (AXES_CLIENT_IP_CALLABLE).

    Django trusts no forwarding header for the client's address, only for the scheme, and only when
    SECURE_PROXY_SSL_HEADER is set (BEHIND_TLS_PROXY=true). Behind that proxy REMOTE_ADDR is the proxy's
    own address, so the address the proxy appended last to X-Forwarded-For is taken; addresses before it
    were sent by the client and prove nothing. Without the setting, X-Forwarded-For is ignored.
    """
    address = request.META.get("REMOTE_ADDR", "")
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
        address = forwarded or address
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
