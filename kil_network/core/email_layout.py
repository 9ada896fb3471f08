"""The HTML part of every email, made from its plain text part (so each email is written once).

The text is read as blocks separated by blank lines: a block of lines starting "- " is a list, a
block of "Label: value" lines keeps its line breaks, an indented line (a sign-in code) is shown
large, and everything after the signature line "-- " is the footer. Links become links. The
blocks go into templates/email/_layout.html: one simple, accessible layout (lang="en-GB", a
heading, paragraphs, a readable width, inline styles only and no external resources).
"""
import re
from dataclasses import dataclass

from flask import render_template

SIGNATURE = "-- "  # RFC 3676: the line that starts the footer
URL = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)]")


@dataclass(frozen=True)
class Block:
    """One block of the body: kind is "p" (paragraph), "lines" (keeps its line breaks), "list"
    or "code"; lines are the text, each a list of (text, href or None) pieces."""

    kind: str
    lines: list[list[tuple[str, str | None]]]
    intro: list[tuple[str, str | None]] | None = None  # a list's lead-in line ("Topics:")


def _pieces(line: str) -> list[tuple[str, str | None]]:
    """A line split into text and links."""
    pieces: list[tuple[str, str | None]] = []
    at = 0
    for match in URL.finditer(line):
        if match.start() > at:
            pieces.append((line[at:match.start()], None))
        pieces.append((match.group(), match.group()))
        at = match.end()
    if at < len(line):
        pieces.append((line[at:], None))
    return pieces


def _block(lines: list[str]) -> Block:
    """What kind of block some consecutive lines are."""
    if all(line.startswith("- ") for line in lines):
        return Block("list", [_pieces(line[2:]) for line in lines])
    if len(lines) > 1 and all(line.startswith("- ") for line in lines[1:]):
        return Block("list", [_pieces(line[2:]) for line in lines[1:]], _pieces(lines[0].strip()))
    if len(lines) == 1 and lines[0].startswith("    "):
        return Block("code", [_pieces(lines[0].strip())])
    if len(lines) > 1:
        return Block("lines", [_pieces(line.strip()) for line in lines])
    return Block("p", [_pieces(lines[0].strip())])


def blocks(text: str) -> list[Block]:
    """The blocks of some plain text."""
    result, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.strip():
            current.append(line.rstrip())
        elif current:
            result.append(_block(current))
            current = []
    return result


def split_footer(text: str) -> tuple[str, str]:
    """The body and the footer (after the signature line) of an email's plain text."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line == SIGNATURE or line == SIGNATURE.strip():
            return "\n".join(lines[:i]), "\n".join(lines[i + 1:])
    return text, ""


def html_from_text(text: str, subject: str) -> str:
    """The HTML part of an email from its plain text part."""
    body, footer = split_footer(text)
    footer_lines = [_pieces(line.strip()) for line in footer.splitlines() if line.strip()]
    return render_template("email/_layout.html", subject=subject, blocks=blocks(body), footer=footer_lines)
