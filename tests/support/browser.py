"""Browser-test helpers: signing in through the real form, screenshots in test-artifacts/."""
import re
from pathlib import Path

import sqlalchemy as sa
from playwright.sync_api import expect

from kil_network.auth.models import User
from kil_network.extensions import db

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


_SESSIONS: dict[tuple[str, str], list] = {}  # (email, the account's session token) -> its session cookies


def resume_session(page, email: str, password: str = PASSWORD) -> None:
    """Be signed in as `email`: through the form the first time in this process, with the same
    session cookie after that (for tests where signing in is not what is tested, such as the axe
    pages). The cookie stays valid while the account's session token is unchanged, as it is in a
    world copied back for each test (tests/support/worlds.py); a changed token signs in again."""
    key = (email, db.session.scalar(sa.select(User.session_token).where(User.email == email)))
    if key in _SESSIONS:
        page.context.add_cookies(_SESSIONS[key])
        return
    sign_in(page, email, password)
    _SESSIONS[key] = page.context.cookies()
