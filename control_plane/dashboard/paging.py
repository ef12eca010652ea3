"""Pages of a long list: which rows a page shows, and the links to the pages around it that
keep the list's filters.

The API's lists answer whole (only the raw proof-of-play export pages, by cursor), so a page
here is a slice of the list the service gives, in the service's order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlencode

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its rows, its number (from 1), how many pages and rows in all."""

    items: Sequence[T]
    number: int
    pages: int
    total: int
    size: int

    @classmethod
    def of(cls, rows: Sequence[T], number: int, size: int) -> Page[T]:
        """Page `number` of `rows` (the last one when it asks for more)."""
        pages = max(1, -(-len(rows) // size))
        number = min(max(1, number), pages)
        return cls(rows[(number - 1) * size:number * size], number, pages, len(rows), size)

    @property
    def first(self) -> int:
        """The position of the page's first row in the list (from 1; 0 when it is empty)."""
        return (self.number - 1) * self.size + 1 if self.items else 0

    @property
    def last(self) -> int:
        """The position of the page's last row in the list."""
        return (self.number - 1) * self.size + len(self.items)

    def href(self, path: str, number: int, query: Mapping[str, str]) -> str:
        """The address of page `number` of the list at `path`, with its filters."""
        params = {k: v for k, v in query.items() if v}
        if number > 1:
            params["page"] = str(number)
        return f"{path}?{urlencode(params)}" if params else path
