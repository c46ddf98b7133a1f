"""One HTML report from entropic's Markdown reports (``entropic-report``, :mod:`entropic.tuning.report.cli`).

- :mod:`~entropic.tuning.report.markdown`: Markdown to HTML for the subset the reports write, all text escaped;
- :mod:`~entropic.tuning.report.page`: the HTML page around it;
- :mod:`~entropic.tuning.report.sources`: which report a directory holds;
- :mod:`~entropic.tuning.report.assets`: images and links rewritten for the page's location, or embedded;
- :mod:`~entropic.tuning.report.build`: :func:`build_report`, the page of several directories.
"""

from entropic.tuning.report.build import build_report
from entropic.tuning.report.markdown import markdown_html
from entropic.tuning.report.page import html_page

__all__ = ["build_report", "html_page", "markdown_html"]
