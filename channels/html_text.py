"""HTML mail bodies to plain text a person can read.

Staff read inquiries as text, and many clients send HTML-only mail, so the
HTML is flattened here: block elements become line breaks, list items get a
"- " marker, script and style content is dropped and entities are unescaped.
Built on the stdlib's tolerant ``html.parser`` so it needs no third-party
package and copes with the broken markup mail clients produce.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

# Content that is never meant to be read by a person.
_SKIP = frozenset({"script", "style", "title", "template", "noscript", "xml"})
# Elements after which the reader expects a new line.
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4",
        "h5", "h6", "header", "hr", "main", "nav", "ol", "p", "pre", "section",
        "table", "tbody", "thead", "tfoot", "tr", "ul",
    }
)  # fmt: skip
# Paragraph-like elements also get a blank line after them.
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "pre"})
_LIST = frozenset({"ul", "ol"})
_CELL = frozenset({"td", "th"})
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._skip_depth = 0
        self._pre_depth = 0
        self._list_depth = 0

    def _break(self, lines: int) -> None:
        """End the current line, leaving at least lines-1 blank lines; nested blocks do not add up."""
        tail = "".join(self._out[-8:]).rstrip(" ")  # source indentation is no content
        have = len(tail) - len(tail.rstrip("\n"))
        if self._out and have < lines:
            self._out.append("\n" * (lines - have))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip_depth += 1
        elif tag == "br":
            self._out.append("\n")  # unlike blocks, consecutive <br> are meant as blank lines
        elif tag == "li":
            self._break(1)
            self._out.append("- ")
        elif tag in _CELL:
            self._out.append(" ")
        elif tag in _BLOCK:
            self._break(1)
        if tag == "pre":
            self._pre_depth += 1
        elif tag in _LIST:
            self._list_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/> and friends: a self-closing script must not start skipping.
        if tag in _SKIP:
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _LIST:
            self._list_depth = max(0, self._list_depth - 1)
        if tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _LIST:
            # A whole list stands apart like a paragraph; a nested one just ends its lines.
            self._break(1 if self._list_depth else 2)
        elif tag in _PARAGRAPH:
            self._break(2)
        elif tag in _BLOCK:
            self._break(1)
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._pre_depth:
            self._out.append(data)
        else:
            # Outside <pre>, source line breaks and indentation are not meant to show.
            self._out.append(re.sub(r"[ \t\r\n\f]+", " ", data))

    def text(self) -> str:
        return "".join(self._out)


def _tidy(text: str) -> str:
    text = text.replace("\xa0", " ").replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.strip(" \t") for line in text.split("\n")]
    # A list marker left alone on its line (an empty <li>) carries nothing.
    lines = [line for line in lines if line != "-"]
    joined = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", joined).strip()


def _crude(markup: str) -> str:
    """Last resort when the parser gives up: drop tags, keep the words."""
    markup = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", markup)
    markup = re.sub(r"(?i)<br\s*/?>|</(p|div|li|tr|h[1-6])\s*>", "\n", markup)
    return html.unescape(re.sub(r"<[^>]*>", " ", markup))


def html_to_text(markup: str) -> str:
    """Readable plain text of an HTML document; never raises."""
    try:
        parser = _TextExtractor()
        parser.feed(markup)
        parser.close()
        text = parser.text()
    except Exception:  # html.parser has raised on odd markup in the past; text is still wanted
        text = _crude(markup)
    return _tidy(text)
