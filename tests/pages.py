"""Reading the status pages as a visitor does: the facts a page states, the headers it carries."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

# Written out here, not imported: a weakened policy in the code must fail the tests.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}
LAYOUT_MARKS = ('<header class="brand', "<main", "</main>")


class _Facts(HTMLParser):
    """dt/dd pairs, table cells and the text of elements with an id, as plain text."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str | None]] = []
        self.texts: dict[str, list[str]] = {}
        self.pairs: dict[str | None, list[tuple[str, str]]] = {}
        self.term: str | None = None
        self.current: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element_id = dict(attrs).get("id")
        if tag not in ("br", "input", "meta"):
            self.stack.append((tag, element_id))
        if element_id:
            self.texts.setdefault(element_id, [])
        if tag in ("dt", "dd"):
            self.current = []

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag == tag:
                break
        if tag in ("dt", "dd") and self.current is not None:
            text = " ".join("".join(self.current).split())
            if tag == "dt":
                self.term = text
            elif self.term is not None:
                owner = next((i for _, i in reversed(self.stack) if i), None)
                self.pairs.setdefault(owner, []).append((self.term, text))
            self.current = None

    def handle_data(self, data: str) -> None:
        if self.current is not None:
            self.current.append(data)
        for _, element_id in self.stack:
            if element_id:
                self.texts[element_id].append(data)


def read_page(body: str) -> _Facts:
    parser = _Facts()
    parser.feed(body)
    return parser


def facts(body: str, dl_id: str) -> dict[str, str]:
    """dt -> dd text of the definition lists inside the element with this id (the innermost
    element with an id owns a pair; a later pair of the same term wins)."""
    return dict(read_page(body).pairs.get(dl_id, []))


def text_of(body: str, element_id: str) -> str:
    return " ".join("".join(read_page(body).texts.get(element_id, [])).split())


def assert_page(response: Any, status: int) -> str:
    """An HTML answer of the status pages: status, the pages' headers, the shared layout."""
    body = response.get_data(as_text=True)
    assert response.status_code == status, body
    assert response.mimetype == "text/html"
    for name, value in PAGE_HEADERS.items():
        assert response.headers.get(name) == value, name
    assert all(mark in body for mark in LAYOUT_MARKS)
    assert re.search(r"<h1>[^<]+</h1>", body)
    return body
