"""What Jupyter shows for atomgen's objects: an AtomSystem as an interactive 3D view, an EvaluationReport as its
metrics table. Each output carries its own copy of 3Dmol.js, so a saved (and trusted) notebook still shows it
offline."""

from __future__ import annotations

import itertools
from html import escape

from atomgen.system import AtomSystem

_views = itertools.count()  # element ids unique within a notebook session


def system_html(system: AtomSystem, width: int = 420, height: int = 320) -> str:
    """A 3D view of one molecule (bonds as atomgen perceives them) or crystal (with its unit cell)."""
    from atomgen.report.page import VIEWER_FILE, script_json, vendored

    if system.is_periodic:
        from atomgen.io.cif import format_cif

        text, fmt = format_cif([system]), "cif"
    else:
        from rdkit import Chem

        text, fmt = Chem.MolToMolBlock(system.to_rdkit(), kekulize=False), "sdf"
    element = f"atomgen-view-{next(_views)}"
    cell = "v.addUnitCell(m);" if fmt == "cif" else ""
    script = (f"(function(){{var v=$3Dmol.createViewer(document.getElementById('{element}'),"
              f"{{backgroundColor:'white'}});var m=v.addModel({script_json(text)},'{fmt}');"
              f"v.setStyle({{}},{{stick:{{radius:0.12}},sphere:{{scale:0.25}}}});{cell}v.zoomTo();v.render();}})();")
    title = escape(f"{system.name + ' · ' if system.name else ''}{system.formula}, {len(system)} atoms")
    # Where RequireJS is loaded (the classic notebook), the bundle would register itself as a module instead of
    # setting window.$3Dmol: hide `define` while it runs.
    library = (f"if(typeof $3Dmol==='undefined'){{var atomgenDefine=window.define;window.define=undefined;"
               f"{vendored(VIEWER_FILE)}\nwindow.define=atomgenDefine;}}")
    return (f'<div><div style="font:12px sans-serif;color:#555">{title}</div>'
            f'<div id="{element}" style="position:relative;width:{width}px;height:{height}px"></div>'
            f"<script>{library}</script><script>{script}</script></div>")
