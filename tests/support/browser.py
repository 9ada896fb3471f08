"""Browser-test helpers: signing in through the real form, screenshots in test-artifacts/."""
import re
from pathlib import Path

from playwright.sync_api import expect

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "correct horse battery"


def shot(page, name: str) -> None:
    """Save a full-page screenshot to test-artifacts/NAME.png (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the form and wait for the account page."""
    page.goto("/auth/login")
    page.get_by_label("Email address", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/account/$"))
