"""The client's IP address, for login throttling and rate limits, from the trusted proxies only.

Each proxy in front of the site appends the address it received the request from to
X-Forwarded-For, so only the last TRUSTED_PROXY_COUNT entries were written by our own proxies;
anything to their left came from the client and can say anything. With no proxy configured
(the default) the header is ignored and the socket's address is the client's. The same rule
as Django REST framework's NUM_PROXIES, which settings.py sets to the same count.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """AXES_CLIENT_IP_CALLABLE and RATELIMIT_IP_META_KEY: the address the nearest untrusted hop used."""
    remote_addr = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded_for = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies == 0 or not forwarded_for:
        return remote_addr
    hops = [hop.strip() for hop in forwarded_for.split(",")]
    candidate = hops[-min(proxies, len(hops))]
    try:
        # Axes stores it in a GenericIPAddressField: a garbled header must not become a 500.
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote_addr
