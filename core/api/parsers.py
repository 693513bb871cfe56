"""The API's JSON parser: DRF's, with a bound on nesting depth.

Python's JSON decoder recurses once per nesting level, so a body a thousand levels deep raised
RecursionError, which DRF does not catch: a 500 that anyone could cause, even unauthenticated (the token
endpoint parses its body before it knows who is asking). No request of this API needs more than a few
levels, so the depth is counted before decoding (a linear scan, no recursion) and anything deeper than
`API_JSON_MAX_DEPTH` is a 400 `parse_error` in the API's normal error shape. RecursionError is caught too, as
a second line, should the decoder ever recurse for another reason.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

# One linear pass over what matters for nesting: escapes (skipped whole, so an escaped quote never ends a string),
# quotes (which enter and leave strings) and brackets (which nest only outside strings).
_TOKEN = re.compile(r'\\.|["\[\]{}]', re.DOTALL)


def json_depth(text: str, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in `text` (0 for a scalar), without recursion, in linear time.

    Stops counting as soon as the depth exceeds `stop_above` (a deep body costs no more than its first levels).
    Malformed input gives some number; the decoder reports the syntax error afterwards.
    """
    depth = deepest = 0
    in_string = False
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token == '"':
            in_string = not in_string
        elif in_string or token[0] == "\\":
            continue
        elif token in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    break
        else:
            depth = max(depth - 1, 0)
    return deepest


def max_depth() -> int:
    """`API_JSON_MAX_DEPTH`, read per request so tests can override it."""
    return int(settings.API_JSON_MAX_DEPTH)


class BoundedJSONParser(JSONParser):
    """`application/json` bodies, refused with 400 when nested deeper than `API_JSON_MAX_DEPTH`."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read() if stream is not None else ""
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        limit = max_depth()
        if json_depth(text, stop_above=limit) > limit:
            raise ParseError(f"JSON parse error - nested deeper than {limit} levels.")
        try:
            parse_constant = json.strict_constant if self.strict else None
            return json.loads(text, parse_constant=parse_constant)
        except RecursionError as exc:
            raise ParseError(f"JSON parse error - nested deeper than {limit} levels.") from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc

