"""The browser fixtures work: gunicorn serves pages to Chromium, htmx loads from the local copy."""
import pytest

pytestmark = pytest.mark.browser


def test_home_page_loads_with_htmx(page):
    page.goto("/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Keep it Local")
    assert page.evaluate("typeof window.htmx") == "object"
    page.screenshot(path="/tmp/home.png", full_page=True)
    assert page.js_errors == []
