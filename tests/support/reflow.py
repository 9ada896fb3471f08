"""Reflow (WCAG 2.2, 1.4.10): a page 320 CSS px wide scrolls only up and down.

The axe pages (tests/test_accessibility*.py) are loaded at `PHONE` from the start, so axe runs
at that width too and each page is visited once. A table that must keep its columns scrolls
inside its own `.table-wrapper` (focusable, named), which does not widen the document.
"""
import os
import re

from tests.support.browser import shot

PHONE = {"width": 320, "height": 640}
# KIL_REFLOW_SHOTS=1 saves each checked page as test-artifacts/reflow-<page>.png, to look at.
SHOTS = os.environ.get("KIL_REFLOW_SHOTS") == "1"

# The document's width and, when it is wider than the window, the element that sticks out
# furthest to the right (skipping what scrolls or is clipped inside an element of its own,
# and the visually hidden), described as a CSS-ish path and the start of its HTML.
_WIDEST = """() => {
  const root = document.documentElement;
  const result = {scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, widest: null, right: 0};
  if (root.scrollWidth <= root.clientWidth) return result;
  // Clipped by an ancestor that scrolls or hides overflow and is in its containing-block chain
  // (an absolutely positioned element escapes an overflow box that is not positioned).
  const clipped = el => {
    const position = getComputedStyle(el).position;
    if (position === 'fixed') return false;
    let escaping = position === 'absolute';
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const style = getComputedStyle(p);
      if (escaping && style.position === 'static') continue;
      if (style.overflowX !== 'visible') return true;
      if (style.position === 'fixed') return false;
      escaping = style.position === 'absolute';
    }
    return false;
  };
  const describe = el => {
    const parts = [];
    for (let e = el; e && e !== document.body && parts.length < 5; e = e.parentElement) {
      parts.unshift(e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                    + (e.classList.length ? '.' + [...e.classList].join('.') : ''));
    }
    return parts.join(' > ') + '\\n' + el.outerHTML.slice(0, 300);
  };
  let widest = null;
  for (const el of document.body.querySelectorAll('*')) {
    const right = el.getBoundingClientRect().right + window.scrollX;
    if (right > result.right && !clipped(el)) { result.right = right; widest = el; }
  }
  result.widest = widest && describe(widest);
  return result;
}"""


def assert_reflows(page, name: str) -> None:
    """The page is no wider than the window: no horizontal scrolling (names the widest element if it is)."""
    # Measured once the page's stylesheets have loaded: an element found by a locator (the error
    # summary after a post) is in the DOM before a slow stylesheet arrives, and a layout without it
    # has no media queries (a stacked table measured as a 2,900 px wide one on a loaded machine).
    page.wait_for_load_state("load")
    width = page.viewport_size["width"]
    found = page.evaluate(_WIDEST)
    if SHOTS:
        shot(page, "reflow-" + re.sub(r"[^a-zA-Z0-9]+", "-", name).strip("-"))
    assert found["scrollWidth"] <= min(width, found["clientWidth"]), (
        f"{page.url} is {found['scrollWidth']} px wide at {width} px; furthest right "
        f"({found['right']:.0f} px): {found['widest']}")

# Long unbroken strings people type, for the worlds the reflow checks load: each must wrap
# (or scroll inside its own box) rather than widen the page.
LONG_URL = "https://www.example.org/r?session=" + "Zx81QwErTy7UiOp3AsDfGh5JkL" * 10 + "&page=12"
LONG_WORD = "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch"
LONG_ORG = f"{LONG_WORD}CommunityInterestCompany (North Wales)"
LONG_EMAIL = "community.partnerships.and.commissioning.team@northeastlincolnshirecommunityandvoluntarysector.org.uk"
