"""Page-number pagination: 50 per page by default, `page_size` up to 500.

`page_size` is what the schema says it is: one whole number of at least 1 (larger than 500 gives 500). Anything
else (a word, a negative number, the parameter twice) is a 400 on `page_size`; DRF's own pagination silently
used the default instead, so a client's typo looked like success and schemathesis' negative tests (an array
`page_size`) were accepted.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

_WHOLE_NUMBER = re.compile(r"[0-9]+")


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        values = request.query_params.getlist(self.page_size_query_param)
        if not values:
            return self.page_size
        if len(values) != 1 or not _WHOLE_NUMBER.fullmatch(values[0]) or int(values[0]) < 1:
            raise ValidationError({self.page_size_query_param: [self.page_size_message()]})
        return min(int(values[0]), self.max_page_size)

    def page_size_message(self) -> str:
        return f"A whole number of at least 1 (at most {self.max_page_size} are returned)."

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
                parameter["description"] = (
                    f"Results per page (default {self.page_size}; larger than {self.max_page_size} gives "
                    f"{self.max_page_size}). Anything but one whole number of at least 1 is a 400."
                )
            elif parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters
