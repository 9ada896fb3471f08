"""Email addresses: one normal form for lookup, storage and rate-limit keys, in every area."""
import unicodedata

# Invisible characters that are not in Unicode category Cf but render as nothing.
_INVISIBLE = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800", "\u034f", "\u180e"}


def _kept(char: str) -> bool:
    """False for control, format (zero-width, bidi, soft hyphen), separator and blank characters."""
    if char in _INVISIBLE or char.isspace():
        return False
    return unicodedata.category(char) not in {"Cc", "Cf", "Co", "Cs", "Cn", "Zs", "Zl", "Zp"}


def normalise_email(email: str | None) -> str:
    """The one normal form of an address: NFKC, invisible and control characters dropped, case-folded.

    `ADA@Example.org`, ` ada@example.org ` and `ada\u200b@example.org` are all `ada@example.org`,
    so a variant can neither create a second account nor get its own rate-limit bucket."""
    text = unicodedata.normalize("NFKC", email or "")
    text = "".join(char for char in text if _kept(char))
    return unicodedata.normalize("NFKC", text.casefold())
