"""One self-contained HTML page: tables, SVG figures, a gallery and a 3D viewer, with every script and style
inline (3Dmol.js is vendored, `atomgen/report/vendor/`), so the file opens offline from disk."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from pathlib import Path

from atomgen.io.atomic import atomic_write_text
from atomgen.report.gallery import Gallery

VIEWER_FILE = "3Dmol-min.js"
VIEWER_LICENCE = "3Dmol-LICENSE.txt"


@dataclass
class Table:
    """A table: a caption, column headings and rows of already formatted cells."""

    caption: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    """One part of a report (a sample, a run, a set of conformers), in the order it shows them."""

    heading: str | None = None
    summary: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)
    gallery: Gallery | None = None
    notes: list[str] = field(default_factory=list)
    appendix: list[Table] = field(default_factory=list)
    figures_heading: str = "Distributions"


@dataclass
class Page:
    """A report: a title, a line under it, and its sections."""

    title: str
    summary: str
    sections: list[Section] = field(default_factory=list)


def vendored(name: str) -> str:
    """The text of a vendored file."""
    return resources.files("atomgen.report").joinpath("vendor").joinpath(name).read_text(encoding="utf-8")


def render(page: Page) -> str:
    """The page as one HTML document."""
    body = [f"<header><h1>{escape(page.title)}</h1><p>{escape(page.summary)}</p></header>"]
    structures: dict[str, dict] = {}
    for number, section in enumerate(page.sections):
        body.append(_section(section, f"s{number}", structures))
    viewer = ""
    if structures:
        body.append("<footer><details><summary>3D viewer: 3Dmol.js 2.5.5 (BSD-3-Clause), bundled</summary><pre>"
                    + escape(vendored(VIEWER_LICENCE)) + "</pre></details></footer>")
        viewer = ('<div id="viewer-panel" hidden><div class="viewer-head"><span id="viewer-title"></span>'
                  '<button id="viewer-close" type="button">close</button></div><div id="viewer3d"></div></div>'
                  f'<script type="application/json" id="structures">{script_json(structures)}</script>'
                  f"<script>{vendored(VIEWER_FILE)}</script><script>{_VIEWER_SCRIPT}</script>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(page.title)}</title><style>{_STYLE}</style></head><body>"
            + "\n".join(body) + viewer + "</body></html>\n")


def write_page(output: str | Path, page: Page) -> Path:
    """Render `page` into the HTML file `output`, atomically (a failure leaves no half-written page)."""
    html = render(page)
    with atomic_write_text(output) as handle:
        handle.write(html)
    return Path(output)


def _section(section: Section, key: str, structures: dict[str, dict]) -> str:
    """One section's HTML; its gallery's structures go into `structures`, keyed under `key`."""
    body = [f'<section class="part" id="{key}">']
    if section.heading:
        body.append(f'<h2 class="part-heading">{escape(section.heading)}</h2>')
    if section.summary:
        body.append(f'<p class="summary">{escape(section.summary)}</p>')
    if section.tables:
        body.append('<div class="tables">' + "".join(_table(table) for table in section.tables) + "</div>")
    if section.figures:
        body.append(f'<div class="block"><h3>{escape(section.figures_heading)}</h3><div class="figures">')
        body += [f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"
                 for caption, svg in section.figures]
        body.append("</div></div>")
    if section.gallery is not None:
        body.append(_gallery(section.gallery, key, structures))
    if section.notes:
        body.append('<div class="block"><h3>Notes</h3><ul>'
                    + "".join(f"<li>{escape(note)}</li>" for note in section.notes) + "</ul></div>")
    if section.appendix:
        body.append('<div class="tables">' + "".join(_table(table) for table in section.appendix) + "</div>")
    body.append("</section>")
    return "\n".join(body)


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(column)}</th>" for column in table.columns)
    rows = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in table.rows)
    return (f'<div class="table"><h3>{escape(table.caption)}</h3><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>")


def _gallery(gallery: Gallery, section: str, structures: dict[str, dict]) -> str:
    parts = [f'<div class="block gallery"><h3>Gallery</h3><p class="note">{escape(gallery.note)}</p>']
    for heading, cards in gallery.groups:
        parts.append(f"<h4>{escape(heading)} <span class=\"count\">({len(cards)} shown)</span></h4>"
                     '<div class="cards">')
        for card in cards:
            key = f"{section}-{card.index}"
            structures[key] = {"text": card.structure, "format": card.structure_format,
                               "highlight": card.highlight, "title": card.title}
            badges = "".join(f'<span class="badge {kind}">{escape(label)}</span>' for label, kind in card.badges)
            parts.append(f'<div class="card" data-structure="{key}" tabindex="0" title="open in 3D">'
                         f'<div class="picture">{card.picture}</div><div class="caption">{escape(card.title)}</div>'
                         f'<div class="badges">{badges}</div></div>')
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)


def script_json(data: object) -> str:
    """JSON that is inert inside a <script> element: no <, > or & survives as itself (a name such as
    `<!--<script>` would otherwise change how the HTML parser finds the element's end)."""
    text = json.dumps(data, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1280px;padding:1rem 2rem;
color:#222;background:#fafafa}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.3rem;margin-top:2rem}
h3{font-size:1.05rem;border-bottom:1px solid #ddd;padding-bottom:.2rem;margin:1.4rem 0 .6rem}
h4{font-size:.95rem;margin:1rem 0 .4rem}.count{color:#777;font-weight:normal}
header p,.summary{color:#555;margin-top:0}.part+.part{border-top:3px solid #c0392b33;margin-top:2rem}
table{border-collapse:collapse;font-size:.9rem;background:#fff}th,td{padding:.25rem .7rem;border-bottom:1px solid #eee;
text-align:left}td:not(:first-child),th:not(:first-child){text-align:right;font-variant-numeric:tabular-nums}
.tables{display:flex;flex-wrap:wrap;gap:0 3rem;align-items:flex-start}
.figures{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0;background:#fff;border:1px solid #e3e3e3;
padding:.4rem;max-width:100%}figure svg{max-width:100%;height:auto}figcaption{font-size:.8rem;color:#555;max-width:60ch}
.cards{display:flex;flex-wrap:wrap;gap:.6rem}.card{width:230px;background:#fff;border:1px solid #ddd;border-radius:6px;
padding:5px;cursor:pointer}.card:hover,.card:focus{border-color:#c0392b;box-shadow:0 0 0 2px #f3c6c0}
.picture svg{width:220px;height:220px}.caption{font-size:.75rem;word-break:break-all;margin:.2rem 0}
.badge{display:inline-block;font-size:.68rem;border-radius:3px;padding:0 4px;margin:1px 2px 0 0}
.badge.good{background:#dff0d8;color:#2b662b}.badge.bad{background:#f7dcd8;color:#922}.badge.neutral{background:#eee;color:#555}
.note{color:#555;font-size:.85rem}.nodraw{color:#999;font-size:.8rem;height:220px}
#viewer-panel{position:fixed;right:1rem;bottom:1rem;width:min(560px,90vw);height:min(520px,80vh);background:#fff;
border:1px solid #999;border-radius:8px;box-shadow:0 4px 20px rgba(0,0,0,.25);display:flex;flex-direction:column;
z-index:10}
#viewer-panel[hidden]{display:none}.viewer-head{display:flex;justify-content:space-between;align-items:center;
padding:.3rem .6rem;font-size:.8rem;border-bottom:1px solid #ddd}#viewer3d{position:relative;flex:1}
footer{margin-top:2rem;font-size:.75rem;color:#777}footer pre{white-space:pre-wrap}
"""

# Opens the clicked card's structure in one shared 3Dmol viewer: sticks and small spheres, the card's highlighted
# atoms as larger magenta spheres, a crystal with its unit cell. `document.body.dataset.viewer` says what the
# viewer last did, for the browser test.
_VIEWER_SCRIPT = """
(function(){
  const structures = JSON.parse(document.getElementById('structures').textContent);
  const panel = document.getElementById('viewer-panel');
  let viewer = null;
  function show(key){
    const s = structures[key];
    panel.hidden = false;
    document.getElementById('viewer-title').textContent = s.title;
    if (!viewer) viewer = $3Dmol.createViewer(document.getElementById('viewer3d'), {backgroundColor: 'white'});
    viewer.clear();
    const model = viewer.addModel(s.text, s.format);
    viewer.setStyle({}, {stick: {radius: 0.12}, sphere: {scale: 0.22}});
    if (s.highlight.length) {
      viewer.setStyle({index: s.highlight}, {stick: {radius: 0.12}, sphere: {scale: 0.3, color: 'magenta'}});
    }
    if (s.format === 'cif') { viewer.setStyle({}, {sphere: {scale: 0.4}}); viewer.addUnitCell(model); }
    viewer.zoomTo();
    viewer.render();
    document.body.dataset.viewer = 'drawn:' + key;
  }
  document.querySelectorAll('.card').forEach(function(card){
    card.addEventListener('click', function(){ show(card.dataset.structure); });
    card.addEventListener('keydown', function(e){ if (e.key === 'Enter') show(card.dataset.structure); });
  });
  document.getElementById('viewer-close').addEventListener('click', function(){ panel.hidden = true; });
  document.body.dataset.viewer = 'ready';
})();
"""
