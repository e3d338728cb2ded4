"""One report template, two renderings: a self-contained HTML file and its Markdown twin.

A :class:`Document` is a title and a list of :class:`Section` s; a section holds Markdown
text (a small subset: paragraphs, ``-`` lists, pipe tables, fenced code, ``**bold**``,
`` `code` `` and ``*italic*``) and images ``(caption, png path)``.  :func:`write_html`
embeds every image as base64 (one file to mail or archive; no scripts, no external
resources); :func:`write_markdown` links the PNGs beside it.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Section:
    title: str
    markdown: str = ""
    images: list[tuple[str, Path]] = field(default_factory=list)
    level: int = 2


@dataclass
class Document:
    title: str
    sections: list[Section] = field(default_factory=list)
    subtitle: str = ""

    def add(self, title: str, markdown: str = "",
            images: list[tuple[str, Path | None]] | None = None, level: int = 2) -> Section:
        s = Section(title, markdown, [(c, Path(p)) for c, p in (images or []) if p is not None],
                    level)
        self.sections.append(s)
        return s


# -- Markdown --------------------------------------------------------------------------
def write_markdown(doc: Document, path: str | os.PathLike) -> Path:
    """The Markdown rendering; images are linked relative to ``path``'s folder."""
    path = Path(path)
    lines = [f"# {doc.title}", ""]
    if doc.subtitle:
        lines += [f"*{doc.subtitle}*", ""]
    for s in doc.sections:
        lines += [f"{'#' * s.level} {s.title}", ""]
        if s.markdown.strip():
            lines += [s.markdown.rstrip(), ""]
        for caption, img in s.images:
            rel = os.path.relpath(img, path.parent)
            lines += [f"![{caption}]({Path(rel).as_posix()})", "", f"*{caption}*", ""]
    path.write_text("\n".join(lines))
    return path


# -- HTML ------------------------------------------------------------------------------
CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1d2330; background: #f6f7f9; line-height: 1.45; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 1.7em; margin: 0.2em 0 0.1em; }
h2 { font-size: 1.3em; border-bottom: 1px solid #dde1e7; padding-bottom: 4px;
     margin-top: 1.8em; }
h3 { font-size: 1.1em; margin-top: 1.3em; }
.subtitle { color: #5b6474; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #d4d9e0; padding: 3px 9px; text-align: left;
         vertical-align: top; }
th { background: #eef1f5; }
tr:nth-child(even) td { background: #fafbfc; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9em;
       background: #f0f2f5; padding: 0 3px; border-radius: 3px; word-break: break-all; }
pre { background: #f0f2f5; padding: 8px 12px; overflow-x: auto; }
pre code { background: none; padding: 0; }
figure { margin: 1em 0 1.6em; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e6ea; }
figcaption { color: #4a5262; font-size: 0.9em; margin-top: 4px; }
.fail { color: #b00020; font-weight: 600; }
.pass { color: #0a7b34; font-weight: 600; }
nav ul { columns: 2; font-size: 0.92em; }
"""


def write_html(doc: Document, path: str | os.PathLike) -> Path:
    """The self-contained HTML rendering (images embedded as ``data:`` URIs)."""
    path = Path(path)
    parts = [f"<h1>{_inline(doc.title)}</h1>"]
    if doc.subtitle:
        parts.append(f'<p class="subtitle">{_inline(doc.subtitle)}</p>')
    toc = [f'<li><a href="#s{i}">{_inline(s.title)}</a></li>'
           for i, s in enumerate(doc.sections) if s.level == 2]
    if len(toc) > 3:
        parts.append("<nav><ul>" + "".join(toc) + "</ul></nav>")
    for i, s in enumerate(doc.sections):
        parts.append(f'<h{s.level} id="s{i}">{_inline(s.title)}</h{s.level}>')
        if s.markdown.strip():
            parts.append(markdown_to_html(s.markdown))
        for caption, img in s.images:
            data = base64.b64encode(Path(img).read_bytes()).decode("ascii")
            parts.append(f'<figure><img src="data:image/png;base64,{data}" '
                         f'alt="{html.escape(caption)}"><figcaption>{_inline(caption)}'
                         f'</figcaption></figure>')
    stamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    body = "\n".join(parts)
    page = (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<meta name=\"generator\" content=\"twinemu\">\n"
            f"<title>{html.escape(doc.title)}</title>\n<style>{CSS}</style>\n</head>\n"
            f"<body>\n<main>\n{body}\n<p class=\"subtitle\">Written by twinemu on {stamp}."
            f"</p>\n</main>\n</body>\n</html>\n")
    path.write_text(page, encoding="utf-8")
    return path


def _inline(text: str) -> str:
    """Escape ``text`` and render ``code``, **bold** and *italic*."""
    out, pos = [], 0
    for m in re.finditer(r"`([^`]+)`", text):
        out.append(_emphasis(html.escape(text[pos:m.start()])))
        out.append(f"<code>{html.escape(m.group(1))}</code>")
        pos = m.end()
    out.append(_emphasis(html.escape(text[pos:])))
    return "".join(out)


def _emphasis(s: str) -> str:
    s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
    s = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", s)
    s = s.replace("<strong>FAIL</strong>", '<strong class="fail">FAIL</strong>')
    s = s.replace("<strong>FAILED</strong>", '<strong class="fail">FAILED</strong>')
    s = s.replace("<strong>PASSED</strong>", '<strong class="pass">PASSED</strong>')
    return s


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    return [c.strip() for c in line.split("|")]


def markdown_to_html(text: str) -> str:
    """HTML of the Markdown subset described in the module docstring."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if line.lstrip().startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].lstrip().startswith("```"):
                j += 1
            out.append("<pre><code>" + html.escape("\n".join(lines[i + 1:j])) + "</code></pre>")
            i = j + 1
            continue
        if line.lstrip().startswith("|"):
            j = i
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            rows = [_cells(r) for r in lines[i:j]]
            head, body = rows[0], rows[2:] if len(rows) > 1 and set(
                "".join(rows[1])) <= set("-: ") else rows[1:]
            t = ["<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head)
                 + "</tr></thead><tbody>"]
            t += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body]
            out.append("".join(t) + "</tbody></table>")
            i = j
            continue
        if re.match(r"\s*[-*] ", line):
            items = []
            while i < len(lines) and re.match(r"\s*[-*] ", lines[i]):
                item = re.sub(r"^\s*[-*] ", "", lines[i])
                i += 1
                while i < len(lines) and lines[i].startswith("  ") and lines[i].strip() \
                        and not re.match(r"\s*[-*] ", lines[i]):
                    item += " " + lines[i].strip()
                    i += 1
                items.append(f"<li>{_inline(item)}</li>")
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        m = re.match(r"(#{1,6}) (.*)", line)
        if m:
            lv = min(len(m.group(1)) + 1, 6)
            out.append(f"<h{lv}>{_inline(m.group(2))}</h{lv}>")
            i += 1
            continue
        para = [line.strip()]
        i += 1
        while i < len(lines) and lines[i].strip() and not re.match(
                r"\s*([-*] |\||```|#)", lines[i]):
            para.append(lines[i].strip())
            i += 1
        out.append(f"<p>{_inline(' '.join(para))}</p>")
    return "\n".join(out)
