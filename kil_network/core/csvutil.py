"""CSV exports: text that a spreadsheet will not run as a formula."""


def csv_safe(value) -> str:
    """Prefix a quote to text starting with =, +, -, @, tab or return (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
