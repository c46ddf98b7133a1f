"""Markdown to HTML for the subset entropic's reports write; all report text is escaped.

Blocks: ATX headings (``#`` to ``######``), paragraphs, pipe tables (header, a ``|---|`` delimiter row,
body rows, each with the cells it has; ``\\|`` is a pipe inside a cell), fenced code
(```` ```lang ````) and bullet lists (``-`` or ``*``). Inline: code spans, ``**bold**``, images
``![alt](src)``, links ``[text](href)`` and ``<br>``, the one tag kept (a line break in a table cell).
Anything else, HTML included, is shown as text; an image or link whose URL has a scheme other than
http or https is shown as text too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape
from urllib.parse import urlsplit

__all__ = ["first_heading", "inline_html", "markdown_html"]

Url = Callable[[str], str]
"""Rewrites an image's ``src`` or a link's ``href`` as written in the Markdown; the HTML gets the result."""

_INLINE = re.compile(r"`(?P<code>[^`]+)`"
                     r"|!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)\)"
                     r"|\[(?P<text>[^\]]+)\]\((?P<href>[^)\s]+)\)"
                     r"|\*\*(?P<bold>.+?)\*\*"
                     r"|(?P<br><br\s*/?>)")
_FENCE = re.compile(r"^(`{3,})\s*([\w+.-]*)\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)(\s+#+)?\s*$")
_BULLET = re.compile(r"^[-*]\s+(.*)$")
_DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_SCHEMES = ("", "http", "https")


def _same(url: str) -> str:
    return url


def _allowed(url: str) -> bool:
    try:
        return urlsplit(url).scheme in _SCHEMES
    except ValueError:  # a malformed URL, e.g. an unclosed "[" in the host
        return False


def inline_html(text: str, image: Url = _same, link: Url = _same) -> str:
    """HTML of one block's text: code spans, bold, images, links and ``<br>``; everything else escaped."""
    out, end = [], 0
    for match in _INLINE.finditer(text):
        out.append(escape(text[end:match.start()], quote=False))
        end = match.end()
        if match["code"] is not None:
            out.append(f"<code>{escape(match['code'], quote=False)}</code>")
        elif match["br"] is not None:
            out.append("<br>")
        elif match["bold"] is not None:
            out.append(f"<b>{inline_html(match['bold'], image, link)}</b>")
        elif not _allowed(match["src"] or match["href"]):
            out.append(escape(match[0], quote=False))
        elif match["src"] is not None:
            out.append(f'<img alt="{escape(match["alt"])}" src="{escape(image(match["src"]))}">')
        else:
            out.append(f'<a href="{escape(link(match["href"]))}">{inline_html(match["text"], image, link)}</a>')
    out.append(escape(text[end:], quote=False))
    return "".join(out)


def first_heading(markdown: str) -> str | None:
    """The Markdown text of the first heading, or ``None`` when there is none."""
    fenced = False
    for line in markdown.splitlines():
        fenced ^= bool(_FENCE.match(line))
        if not fenced and (match := _HEADING.match(line)):
            return match[2]
    return None


def _cells(row: str) -> list[str]:
    row = row.strip()
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") and not row.endswith("\\|") else row
    return [cell.strip().replace("\\|", "|") for cell in _CELL_SPLIT.split(row)]


def _table(lines: list[str], inline: Callable[[str], str]) -> str:
    header = _cells(lines[0]) if len(lines) > 1 and _DELIMITER.match(lines[1]) else None
    body = [_cells(line) for line in lines[2 if header else 0:]]

    def row(cells: list[str], tag: str) -> str:
        return "<tr>" + "".join(f"<{tag}>{inline(cell)}</{tag}>" for cell in cells) + "</tr>"

    head = f"<thead>{row(header, 'th')}</thead>" if header else ""
    return f"<table>{head}<tbody>{''.join(row(cells, 'td') for cells in body)}</tbody></table>"


def _starts_block(line: str) -> bool:
    return bool(_FENCE.match(line) or _HEADING.match(line) or _BULLET.match(line)) or line.startswith("|")


def _run_end(lines: list[str], start: int, keep: Callable[[str], object]) -> int:
    """The index after the run of lines from ``start`` that ``keep`` accepts (``start`` itself always kept)."""
    end = start + 1
    while end < len(lines) and keep(lines[end]):
        end += 1
    return end


def markdown_html(markdown: str, image: Url = _same, link: Url = _same, shift: int = 0) -> str:
    """HTML (a fragment: one element per block) of ``markdown``.

    ``image`` and ``link`` rewrite image sources and link targets (default: kept as written); ``shift``
    demotes every heading by that many levels (at most ``<h6>``), for a report shown inside another page.
    """
    lines, blocks, i = markdown.splitlines(), [], 0

    def inline(text: str) -> str:
        return inline_html(text, image, link)

    while i < len(lines):
        line = lines[i]
        if fence := _FENCE.match(line):
            end = _run_end(lines, i, lambda text: not text.startswith(fence[1]))
            language = f' class="language-{fence[2]}"' if fence[2] else ""
            code = escape("\n".join(lines[i + 1:end]), quote=False)
            blocks.append(f"<pre><code{language}>{code}</code></pre>")
            i = end + 1
        elif heading := _HEADING.match(line):
            level = min(len(heading[1]) + shift, 6)
            blocks.append(f"<h{level}>{inline(heading[2])}</h{level}>")
            i += 1
        elif line.startswith("|"):
            end = _run_end(lines, i, lambda text: text.startswith("|"))
            blocks.append(_table(lines[i:end], inline))
            i = end
        elif _BULLET.match(line):
            end = _run_end(lines, i, _BULLET.match)
            items = "".join(f"<li>{inline(_BULLET.match(item)[1])}</li>" for item in lines[i:end])
            blocks.append(f"<ul>{items}</ul>")
            i = end
        elif line.strip():
            end = _run_end(lines, i, lambda text: text.strip() and not _starts_block(text))
            paragraph = "\n".join(text.strip() for text in lines[i:end])
            blocks.append(f"<p>{inline(paragraph)}</p>")
            i = end
        else:
            i += 1
    return "\n".join(blocks)
