"""The HTML page around converted reports: charset, title and one small stylesheet, no scripts."""

from __future__ import annotations

from html import escape

__all__ = ["html_page"]

STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:0 12px}"
         "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}"
         "pre{background:#f5f5f5;padding:8px;overflow-x:auto}img{max-width:100%}"
         ".source{color:#666;font-size:13px}section{border-top:1px solid #ddd;margin-top:24px}")


def html_page(title: str, body: str) -> str:
    """A whole HTML document titled ``title`` (escaped) around the HTML fragment ``body``."""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title, quote=False)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")
