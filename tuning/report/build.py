"""One HTML page from the Markdown reports of study, design, laws and transfer directories."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape
from pathlib import Path

from entropic.tuning.report.assets import Assets
from entropic.tuning.report.markdown import first_heading, markdown_html
from entropic.tuning.report.page import html_page
from entropic.tuning.report.sources import Source, find_sources

__all__ = ["DEFAULT_TITLE", "build_report"]

DEFAULT_TITLE = "entropic report"


def _section(number: int, source: Source, page_dir: Path, embed: bool) -> tuple[str, str]:
    """The table-of-contents entry and the ``<section>`` of one report."""
    markdown = source.markdown.read_text(encoding="utf-8")
    assets = Assets(source.markdown, page_dir, embed)
    body = markdown_html(markdown, image=assets.image, link=assets.link, shift=1)
    anchor = f"report-{number}"
    heading = re.sub(r"[`*]", "", first_heading(markdown) or source.markdown.name)
    where = f'<span class="source">{escape(source.kind)}: {escape(str(source.directory))}</span>'
    return (f'<li><a href="#{anchor}">{escape(heading)}</a> {where}</li>',
            f'<section id="{anchor}">\n<p>{where}</p>\n{body}\n</section>')


def build_report(directories: Sequence[str | Path], out: str | Path, title: str = DEFAULT_TITLE,
                 embed: bool = False) -> Path:
    """Write one HTML page ``out`` with a table of contents and one section per report found in ``directories``.

    Each directory holds reports itself, in its sub-directories or both
    (:func:`~entropic.tuning.report.sources.find_sources`; ``ValueError`` naming a directory without any). Image
    paths are rewritten relative to ``out``'s folder, or embedded as ``data:`` URIs with ``embed`` (a single portable
    file); a missing image is a ``FileNotFoundError`` naming it, and nothing is written. Returns ``out``.
    """
    if not directories:
        raise ValueError("directories is empty: give at least one study, design, laws or transfer directory")
    out = Path(out)
    parts = [_section(number, source, out.parent, embed) for number, source in enumerate(find_sources(directories), 1)]
    body = (f"<h1>{escape(title, quote=False)}</h1>\n<nav><ul>\n" + "\n".join(entry for entry, _ in parts)
            + "\n</ul></nav>\n" + "\n".join(section for _, section in parts))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html_page(title, body), encoding="utf-8")
    return out
