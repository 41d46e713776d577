"""The HTML report in a real browser: headless Chromium opens it from disk, with no JavaScript errors, and the
3D viewer draws a clicked molecule and a clicked crystal.

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them when it runs as root) and selenium (the
`test` extra); without them the tests are skipped with a reason that says so.
"""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest

from atomgen.io.formats import write
from atomgen.report import write_samples_report

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="no headless browser: apt-get install chromium chromium-driver (Debian) to run the browser tests",
)


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is missing: pip install -e '.[test]'")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # No GPU here: WebGL runs on SwiftShader, Chromium's software renderer.
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
                     "--use-angle=swiftshader", "--window-size=1280,900", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    yield driver
    driver.quit()


def _open(browser, path):
    browser.get(path.resolve().as_uri())
    browser.get_log("browser")  # start each page with an empty log
    return browser


def _errors(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def _draw_first_card(browser) -> np.ndarray:
    """Click the first gallery card, wait for the viewer to draw it, and return its pixels (H, W, 3)."""
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    card = browser.find_elements(By.CSS_SELECTOR, ".card")[0]
    browser.execute_script("arguments[0].scrollIntoView()", card)
    card.click()
    WebDriverWait(browser, 30).until(lambda b: b.execute_script("return document.body.dataset.viewer")
                                     .startswith("drawn:"))
    assert browser.execute_script("return document.querySelectorAll('#viewer3d canvas').length") >= 1
    png = browser.find_element(By.ID, "viewer3d").screenshot_as_png
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)


def _drawn(pixels: np.ndarray) -> float:
    """The share of the viewer's pixels that are not its white background."""
    return float((np.abs(pixels - 255).sum(axis=2) > 30).mean())


def test_molecule_report_opens_without_errors_and_draws_in_3d(browser, tmp_path, small_molecules):
    write(tmp_path / "samples.sdf", small_molecules)
    out = tmp_path / "report.html"
    write_samples_report(tmp_path / "samples.sdf", out, reference=str(tmp_path / "samples.sdf"), progress=False,
                         fcd=False, strain=False, max_expensive=3)
    _open(browser, out)
    assert browser.execute_script("return document.body.dataset.viewer") == "ready"
    assert browser.execute_script("return document.querySelectorAll('figure svg').length") == 5
    assert browser.execute_script("return document.querySelectorAll('table').length") == 2
    assert browser.execute_script("return document.querySelectorAll('.card svg').length") == len(small_molecules)
    pixels = _draw_first_card(browser)
    assert 0.01 < _drawn(pixels) < 0.9  # a molecule on a white background, not a blank (or black) canvas
    assert _errors(browser) == []


def test_crystal_report_draws_a_unit_cell(browser, tmp_path, rock_salt):
    write(tmp_path / "crystals.cif", [rock_salt, rock_salt.copy()])
    out = tmp_path / "crystals.html"
    write_samples_report(tmp_path / "crystals.cif", out, reference=str(tmp_path / "crystals.cif"), progress=False)
    _open(browser, out)
    pixels = _draw_first_card(browser)
    assert 0.01 < _drawn(pixels) < 0.9
    assert _errors(browser) == []


def test_notebook_views_draw(browser, tmp_path, small_molecules, rock_salt):
    """What Jupyter shows for an AtomSystem (`_repr_html_`), two on one page as two notebook outputs would be:
    the second relies on the first's 3Dmol.js, and both draw."""
    from PIL import Image
    from selenium.webdriver.common.by import By

    page = tmp_path / "notebook.html"
    page.write_text("<!DOCTYPE html><html><body>" + small_molecules[0]._repr_html_() + rock_salt._repr_html_()
                    + "</body></html>")
    _open(browser, page)
    views = browser.find_elements(By.CSS_SELECTOR, "[id^=atomgen-view-]")
    assert len(views) == 2
    for element in views:
        assert element.find_elements(By.TAG_NAME, "canvas")
        pixels = np.asarray(Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB"), dtype=float)
        assert 0.005 < _drawn(pixels) < 0.9
    assert _errors(browser) == []
