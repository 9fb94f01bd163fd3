"""Compressed pages and downloads (gzip), without giving BREACH a foothold.

BREACH recovers a secret from a compressed HTTPS response by reflecting guesses into the same
response and watching its size. So only responses to GET requests without a query string are
compressed: nothing an attacker chooses is echoed next to the page's secrets. The search pages
and the transcript's search (?q=) stay uncompressed. CSRF tokens are masked afresh in every
response, and Django pads compressed responses with random bytes, as further layers. Static
files are compressed ahead of time by whitenoise.
"""

from __future__ import annotations

from django.middleware.gzip import GZipMiddleware

COMPRESSIBLE = (
    "text/html",
    "text/plain",
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/json",
    "text/vtt",
    "application/x-subrip",
)


class SafeGZipMiddleware(GZipMiddleware):
    def process_response(self, request, response):
        content_type = response.get("Content-Type", "").split(";")[0].strip()
        if (
            request.method not in ("GET", "HEAD")
            or request.META.get("QUERY_STRING")
            or response.streaming
            or content_type not in COMPRESSIBLE
        ):
            return response
        return super().process_response(request, response)
