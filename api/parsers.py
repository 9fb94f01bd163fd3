"""How API request bodies are read."""

from __future__ import annotations

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's, with JSON nested deeper than Python's parser goes refused as malformed (400):
    100 KB of "[" raised RecursionError, which DRF does not catch, and answered 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error: nested too deeply.") from None
