"""``entropic-report``: one HTML page from the reports of entropic-tune, -design, -laws and -transfer directories.

Examples::

    entropic-report outputs/demo                          # the demo's study and transfer reports
    entropic-report outputs/study outputs/design --out all.html --embed --title "Bandit PI"

Each directory holds a report itself or in its sub-directories (a Hydra multirun, the demo's output folder).
The HTML's path is printed last.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from entropic.tuning.report.build import DEFAULT_TITLE, build_report

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, build the page, print its path last."""
    parser = argparse.ArgumentParser(prog="entropic-report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directories", nargs="+", type=Path, metavar="DIR",
                        help="a study, design, laws or transfer output directory, or a folder of them")
    parser.add_argument("--out", type=Path, default=Path("report.html"), help="the HTML file (default report.html)")
    parser.add_argument("--embed", action="store_true", help="embed the images: one portable file")
    parser.add_argument("--title", default=DEFAULT_TITLE, help=f"the page's title (default {DEFAULT_TITLE!r})")
    args = parser.parse_args(argv)
    try:
        path = build_report(args.directories, args.out, args.title, args.embed)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    print(path.resolve())  # noqa: T201


if __name__ == "__main__":
    main()
