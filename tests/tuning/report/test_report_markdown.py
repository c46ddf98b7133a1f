"""The reports' Markdown converter against hand-written HTML: every construct the four writers use, all text escaped."""

from __future__ import annotations

from entropic.tuning.report.markdown import first_heading, inline_html, markdown_html


def test_headings_paragraphs_and_lists() -> None:
    markdown = "# Study `demo`\n\nline one\nline **two**\n\n- a\n* b `c`\n## Next #\n"
    assert markdown_html(markdown) == ("<h1>Study <code>demo</code></h1>\n<p>line one\nline <b>two</b></p>\n"
                                       "<ul><li>a</li><li>b <code>c</code></li></ul>\n<h2>Next</h2>")
    assert markdown_html("# a\n###### b", shift=1) == "<h2>a</h2>\n<h6>b</h6>"
    assert markdown_html("#hashtag\n-dash") == "<p>#hashtag\n-dash</p>"


def test_tables_keep_escaped_pipes_and_line_breaks() -> None:
    markdown = "| a | b |\n|---|:---:|\n| **x** \\| y | 1<br>2 |\n| `<i>` | |"
    assert markdown_html(markdown) == (
        "<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td><b>x</b> | y</td><td>1<br>2</td></tr>"
        "<tr><td><code>&lt;i&gt;</code></td><td></td></tr></tbody></table>")
    assert markdown_html("| a | b |\n| c | d |") == (
        "<table><tbody><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></tbody></table>")


def test_fenced_code_is_escaped_verbatim() -> None:
    markdown = "```yaml\nlaw:\n  # <b>x</b> & **y**\n```\nafter\n\n```\nunterminated"
    assert markdown_html(markdown) == ('<pre><code class="language-yaml">law:\n  # &lt;b&gt;x&lt;/b&gt; &amp; **y**'
                                       "</code></pre>\n<p>after</p>\n<pre><code>unterminated</code></pre>")


def test_images_and_links_are_rewritten_and_quoted() -> None:
    text = '![a "b"](x.png) and [the `config`](c/d.yaml#top), [web](https://e.org/?a=1&b=2)'
    assert inline_html(text) == ('<img alt="a &quot;b&quot;" src="x.png"> and <a href="c/d.yaml#top">the '
                                 '<code>config</code></a>, <a href="https://e.org/?a=1&amp;b=2">web</a>')
    assert inline_html(text, image=lambda src: f"img/{src}", link=lambda href: f'"{href}') == (
        '<img alt="a &quot;b&quot;" src="img/x.png"> and <a href="&quot;c/d.yaml#top">the <code>config</code></a>, '
        '<a href="&quot;https://e.org/?a=1&amp;b=2">web</a>')


def test_html_in_report_text_is_shown_as_text() -> None:
    assert inline_html("<script>alert(1)</script> a<br/>b <b>c</b>") == (
        "&lt;script&gt;alert(1)&lt;/script&gt; a<br>b &lt;b&gt;c&lt;/b&gt;")
    assert inline_html("[x](javascript:alert(1)) ![y](data:image/png;base64,AAAA) [z](http://[bad)") == (
        "[x](javascript:alert(1)) ![y](data:image/png;base64,AAAA) [z](http://[bad)")
    assert markdown_html("# <img src=x onerror=alert(1)>") == "<h1>&lt;img src=x onerror=alert(1)&gt;</h1>"


def test_first_heading_skips_code() -> None:
    assert first_heading("```bash\n# a comment\n```\ntext\n## The `title`\n# later") == "The `title`"
    assert first_heading("no heading") is None
