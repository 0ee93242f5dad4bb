"""URLs that every page links to, built once rather than on every render."""

from __future__ import annotations

from typing import Any

from flask import current_app, request, url_for

CACHE_KEY = "doorstep.fixed_urls"
MAX_CACHED = 256


def fixed_url(endpoint: str, **values: Any) -> str:
    """Return url_for(endpoint, **values), worked out once per app and script root."""
    # Only for URLs that are the same for every visitor (the layout's pages and static
    # files): nine url_for calls were a third of the landing page's rendering
    # (docs/server.md). The script root is the one part of the request they depend on.
    key = (request.script_root, endpoint, *sorted(values.items()))
    cache: dict[tuple, str] = current_app.extensions.setdefault(CACHE_KEY, {})
    url = cache.get(key)
    if url is None:
        url = url_for(endpoint, **values)
        if len(cache) < MAX_CACHED:  # a server that varies the script root cannot grow it
            cache[key] = url
    return url
