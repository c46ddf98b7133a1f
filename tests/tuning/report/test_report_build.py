"""``entropic-report``: one page from real study, design, laws and transfer reports; every image found."""

from __future__ import annotations

import base64
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from report_dirs import SCRIPT

from entropic.tuning.report import build_report
from entropic.tuning.report.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """The parts of a page the tests check: image sources, link targets, ids, tables' cells per row, tags, text."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.tables: list[list[int]] = []
        self.tags: set[str] = set()
        self.text = ""
        self.feed(path.read_text(encoding="utf-8"))
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.add(tag)
        self.ids |= {attributes["id"]} if "id" in attributes else set()
        if tag == "img":
            self.images.append(attributes["src"])
        elif tag == "a":
            self.links.append(attributes["href"])
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append(0)
        elif tag in ("td", "th"):
            self.tables[-1][-1] += 1

    def handle_data(self, data: str) -> None:
        self.text += data


def _check(page: Page) -> None:
    """Tables are rectangular and report text shows as text (no script tag)."""
    assert page.tables and all(len(set(rows)) == 1 for rows in page.tables), page.tables
    assert "script" not in page.tags and SCRIPT in page.text


def test_one_page_of_all_four_reports_finds_every_image(study_dir: Path, design_dir: Path, laws_dir: Path,
                                                       transfer_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "pages" / "all.html"
    assert build_report([study_dir, design_dir, laws_dir, transfer_dir], out, title="Bandit <PI>") == out
    page = Page(out)
    _check(page)
    assert "Bandit <PI>" in page.text
    assert len(page.images) == 4 + 3 + 1 + 1  # study, design (no validation), laws, transfer
    for src in page.images:
        assert (out.parent / unquote(src)).read_bytes().startswith(PNG), src
    anchors = [href for href in page.links if href.startswith("#")]
    assert len(anchors) == 4 and {href[1:] for href in anchors} <= page.ids
    assert "https://example.org/a_b" in page.links
    assert (out.parent / "../transfer/controller/transferred.yaml").resolve() == \
        transfer_dir / "controller" / "transferred.yaml"
    assert "../transfer/controller/transferred.yaml" in page.links


def test_embedded_images_make_one_portable_file(design_dir: Path, laws_dir: Path, tmp_path: Path) -> None:
    out = build_report([design_dir, laws_dir], tmp_path / "portable.html", embed=True)
    page = Page(out.rename(tmp_path / "moved.html"))
    _check(page)
    assert len(page.images) == 4
    for src in page.images:
        kind, data = src.split(",", 1)
        assert kind == "data:image/png;base64" and base64.b64decode(data).startswith(PNG)


def test_a_folder_of_reports_is_searched_one_level_down(transfer_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "multirun"
    for name in ("10", "2"):
        shutil.copytree(transfer_dir, root / name)
    (root / "2" / "transfer.md").write_text("# run 2\n\n![ladder](ladder.png)\n")
    (root / ".hydra").mkdir()
    page = Page(build_report([root, root / "10"], tmp_path / "runs.html"))
    assert page.text.index("run 2") < page.text.index("multirun/10")  # natural order; 10 given twice, shown once
    assert page.images == ["multirun/2/ladder.png", "multirun/10/ladder.png"]


def test_design_writes_its_own_page_with_the_shared_converter(design_dir: Path) -> None:
    page = Page(design_dir / "design.html")
    _check(page)
    assert page.images == ["identification.png", "bode.png", "step.png"]
    assert all((design_dir / src).is_file() for src in page.images)


def test_a_missing_image_is_an_error_naming_it(design_dir: Path, tmp_path: Path) -> None:
    (design_dir / "bode.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"design\.md: image 'bode\.png' not found"):
        build_report([design_dir], tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()


def test_a_directory_without_a_report_is_an_error_naming_it(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "report.md").write_text("# a report.md without tune_summary.json is not a study\n")
    with pytest.raises(ValueError, match=r"empty holds no report.*report\.md with tune_summary\.json \(study\), "
                                         r"design\.md \(design\), laws\.md \(laws\), transfer\.md \(transfer\)"):
        build_report([empty], tmp_path / "report.html")
    with pytest.raises(ValueError, match="missing is not a directory"):
        build_report([tmp_path / "missing"], tmp_path / "report.html")


def test_cli_prints_the_page_last(transfer_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "site" / "index.html"
    main([str(transfer_dir), "--out", str(out), "--embed", "--title", "T"])
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out.resolve())
    assert Page(out).images[0].startswith("data:image/png;base64,")
    (transfer_dir / "transfer.md").write_text("![gone](gone.png)\n")
    with pytest.raises(SystemExit) as exit_info:
        main([str(transfer_dir), "--out", str(out)])
    assert exit_info.value.code == 2 and "image 'gone.png' not found" in capsys.readouterr().err
