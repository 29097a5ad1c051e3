"""Article bodies are rendered to HTML that cannot run script, whatever the author (or an import) typed."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from kb.markdown import render, to_text

ATTACKS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src="x" onerror="alert(1)">',
    "![x](x\" onerror=\"alert(1))",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](  javascript:alert(1)  )",
    "[x](java&#x09;script:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<details open ontoggle=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<iframe src="javascript:alert(1)"></iframe>',
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "[x](\njavascript:alert(1)\n)",
    "[x]\n(javascript:alert(1))",
    "[link][ref]\n\n[ref]: javascript:alert(1)",
    "[link][ref]\n\n[ref]:\n  javascript:alert(1)\n  \"title\"",
    "<javascript:alert(1)>",
    "<a\nhref=\"javascript:alert(1)\">x</a>",
    "`<script>`\n\n    <script>alert(1)</script>",
    "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
    "<form action=javascript:alert(1)><button>x</button></form>",
    "<object data=javascript:alert(1)></object><embed src=javascript:alert(1)>",
    "[x](https://ok.example/\" onclick=\"alert(1))",
]

DANGEROUS_TAGS = {"script", "iframe", "svg", "math", "style", "object", "embed", "form", "details", "base", "meta",
                  "link", "input", "button", "textarea", "video", "audio", "source"}
SAFE_SCHEMES = {"http", "https", "mailto"}


class Elements(HTMLParser):
    """The real elements and attributes of the output, as a browser would see them (text is not markup)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.found.append((tag.lower(), {k.lower(): (v or "") for k, v in attrs}))


def scheme_of(url: str) -> str | None:
    url = re.sub(r"[\x00-\x20]", "", url).lower()  # browsers ignore these inside a scheme
    match = re.match(r"^([a-z][a-z0-9+.\-]*):", url)
    return match.group(1) if match else None


@pytest.mark.parametrize("source", ATTACKS)
def test_no_script_survives_rendering(source):
    html = render(source)
    for tag, attrs in Elements(html).found:
        assert tag not in DANGEROUS_TAGS, html
        for name, value in attrs.items():
            assert not name.startswith("on") and name != "style", html
            if name in {"href", "src", "action", "formaction", "data", "xlink:href"}:
                assert scheme_of(value) in SAFE_SCHEMES | {None}, html


def test_the_checker_would_see_an_attack():
    found = Elements('<a href=" JavaScript:alert(1)" onclick="x">y</a><script></script>').found
    assert found[0][0] == "a" and "onclick" in found[0][1] and scheme_of(found[0][1]["href"]) == "javascript"
    assert found[1][0] == "script"


def test_escaped_text_stays_visible_as_text():
    html = render("Type `<script>` into the box, then <b>bold</b>.")
    assert "&lt;script&gt;" in html and "<script" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html  # raw HTML is shown, never interpreted


def test_ordinary_markdown_renders():
    html = render("# Title\n\n1. **Open** [the portal](https://portal.example/x)\n2. Run `ipconfig`\n\n"
                  "| a | b |\n|---|---|\n| 1 | 2 |\n\n![logo](https://cdn.example/logo.png)\n\nmailto: [us](mailto:it@example.com)")
    assert "<h1>Title</h1>" in html and "<strong>Open</strong>" in html and "<code>ipconfig</code>" in html
    assert 'href="https://portal.example/x"' in html and 'rel="noopener noreferrer nofollow"' in html
    assert "<table>" in html and 'src="https://cdn.example/logo.png"' in html
    assert 'href="mailto:it@example.com"' in html


def test_chinese_renders():
    assert "打开二号纸盒" in render("## 步骤\n\n1. 打开二号纸盒")


def test_to_text_drops_markup_keeps_words():
    assert to_text("# Hi\n\nSee [the guide](https://x.example) and **bold** `code`") == "Hi See the guide and bold code"
