"""`/metrics` for Prometheus: never public. Each configured check must pass; with none configured, 404 for everyone.

METRICS_TOKEN: the scraper sends `Authorization: Bearer <token>` (401 without it or with another).
METRICS_ALLOW_FROM: the client address (REMOTE_ADDR, the peer daphne sees) must be in one of these
addresses or networks (403 otherwise). With PROMETHEUS_MULTIPROC_DIR set, any process answers for all
of them: the sum of every process's files there (chat/metrics.py).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from functools import lru_cache

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@login_not_required
@never_cache
@require_safe
async def metrics(request: HttpRequest) -> HttpResponse:
    token, allowed = settings.METRICS_TOKEN, settings.METRICS_ALLOW_FROM
    if not token and not allowed:
        raise Http404("Metrics are not enabled.")
    if token and not _bearer_matches(request, token):
        response = HttpResponse("A metrics token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if allowed and not _address_allowed(request.META.get("REMOTE_ADDR", ""), tuple(allowed)):
        return HttpResponse("This address may not read metrics.\n", status=403, content_type="text/plain")
    body = await asyncio.to_thread(generate_latest, _registry(settings.PROMETHEUS_MULTIPROC_DIR))
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def _registry(multiprocess_dir: str) -> CollectorRegistry:
    if not multiprocess_dir:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=multiprocess_dir)
    return registry


def _bearer_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _address_allowed(address: str, allowed: tuple[str, ...]) -> bool:
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped:  # a dual-stack listener's IPv4 client
        client = client.ipv4_mapped
    return any(client in network for network in networks(allowed))


@lru_cache(maxsize=8)
def networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """Addresses and networks ("10.0.0.5", "10.0.0.0/8", "::1"); ValueError names a bad entry."""
    parsed = []
    for entry in entries:
        try:
            parsed.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"METRICS_ALLOW_FROM: {entry!r} is not an address or network") from None
    return tuple(parsed)
