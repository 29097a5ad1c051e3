"""Markdown to safe HTML, and Markdown to plain text for snippets.

Rendering uses markdown-it (CommonMark, raw HTML disabled) and then nh3
(Ammonia) with an allow-list, so no script, event attribute or
``javascript:`` / ``data:`` link survives, whatever the author typed.
"""
from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table").enable("strikethrough")

ALLOWED_TAGS = {
    "a", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "del", "s",
    "code", "pre", "blockquote", "table", "thead", "tbody", "tr", "th", "td", "img",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "th": {"align"}, "td": {"align"},
                      "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}


def sanitize_html(html: str) -> str:
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES,
                     link_rel="noopener noreferrer nofollow", strip_comments=True)


def render(markdown: str) -> str:
    """Safe HTML for an article body (a string the template may mark safe)."""
    return sanitize_html(_md.render(markdown or ""))


_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MARKS = re.compile(r"(^|\s)[#>]+\s|[*_`~|]+|^\s*[-+]\s+|^\s*\d+\.\s+", re.M)
_TAGS = re.compile(r"<[^>]+>")


def to_text(markdown: str) -> str:
    """Plain text for snippets and summaries: link texts kept, markup dropped."""
    text = _LINK.sub(r"\1", markdown or "")
    text = _TAGS.sub(" ", text)
    text = _MARKS.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip()
