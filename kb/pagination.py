"""One page of a longer result, shaped like Flask-SQLAlchemy's pagination object, so
the portal's ``pager`` macro can read any of them."""
from __future__ import annotations

import math


class Paged:
    """Mixin for a (data)class with ``page``, ``per_page`` and ``total``."""

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1
