"""A report's images and links as seen from a page written elsewhere: relative paths, or data URIs."""

from __future__ import annotations

import base64
import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

__all__ = ["Assets"]


@dataclass(frozen=True)
class Assets:
    """Rewrites the relative image sources and link targets of the Markdown file ``report`` for a page in ``page_dir``.

    Images must exist (``FileNotFoundError`` naming the report and the image); with ``embed`` they become
    ``data:`` URIs, so the page needs no other file. URLs with a scheme or host are kept as written.
    """

    report: Path
    page_dir: Path
    embed: bool = False

    def image(self, src: str) -> str:
        if _external(src):
            return src
        file = self.report.parent / unquote(src)
        if not file.is_file():
            raise FileNotFoundError(f"{self.report}: image {src!r} not found (no file {file})")
        return _data_uri(file) if self.embed else self._relative(file)

    def link(self, href: str) -> str:
        parts = urlsplit(href)
        if _external(href) or not parts.path:
            return href
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        return self._relative(self.report.parent / unquote(parts.path)) + fragment

    def _relative(self, file: Path) -> str:
        return quote(Path(os.path.relpath(file.resolve(), self.page_dir.resolve())).as_posix())


def _external(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme or parts.netloc)


def _data_uri(file: Path) -> str:
    kind = mimetypes.guess_type(file.name)[0]
    if kind is None or not kind.startswith("image/"):
        raise ValueError(f"image {file} is not an image file to embed: use .png, .jpg, .gif, .svg or .webp")
    return f"data:{kind};base64,{base64.b64encode(file.read_bytes()).decode('ascii')}"
