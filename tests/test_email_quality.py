"""Every email, as the mail server receives it: Date and a stable Message-ID, plain text and HTML made
from the same words, no line broken inside a sentence, times as "Tuesday 15 December 2026, 10:00am
(UK time)", a footer saying why it was sent and where to choose, and a SpamAssassin score of at
most 1.0 with the local rules (tests/support/emails.py makes one email of each kind)."""
import mailbox
import re
import shutil
import subprocess
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from kil_network.core.email import build_message, deliver_due
from kil_network.core.email_layout import blocks, html_from_text, split_footer
from kil_network.core.models import OutboxEmail
from kil_network.core.timeutil import format_email_time
from kil_network.extensions import db
from tests.support.emails import deliver_every_kind
from tests.support.mail import email_text

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "email"
MAX_SCORE = 1.0
# A time as every email writes it (the end of a workshop may follow as "to 12:00pm").
EMAIL_TIME = re.compile(r"(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday) \d{1,2} "
                        r"(January|February|March|April|May|June|July|August|September|October|November|December) "
                        r"\d{4}, \d{1,2}:\d{2}(am|pm) \(UK time\)")


@pytest.fixture
def delivered(make_user, mail):
    """One email of every kind, as received by the SMTP capture server."""
    return deliver_every_kind(make_user, mail)


def html_part(message) -> str:
    """The HTML part of a received email."""
    return message.get_body(preferencelist=("html",)).get_content()


class _Text(HTMLParser):
    """The visible text and the structure of an HTML email."""

    def __init__(self):
        super().__init__()
        self.text, self.tags, self.links, self.external = [], [], [], []
        self.lang = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "html":
            self.lang = attrs.get("lang")
        if tag == "a":
            self.links.append(attrs.get("href"))
        if tag in ("img", "link", "script", "iframe") or (tag == "style"):
            self.external.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def parse_html(html: str) -> _Text:
    """Parse an HTML part."""
    parser = _Text()
    parser.feed(html)
    return parser


def words(text: str) -> list[str]:
    """The words of some text, for comparing the two parts."""
    return re.findall(r"[\w@:/.\-]+", text)


# --- headers and parts ----------------------------------------------------------------------

def test_every_email_has_date_message_id_and_both_parts(delivered):
    """Each email has a Date (now, in UTC), a Message-ID of its outbox row, and plain text and HTML."""
    assert len(delivered) >= 14
    ids = set()
    for kind, message in delivered.items():
        date = parsedate_to_datetime(message["Date"])
        assert date.tzinfo is not None and abs((datetime.now(UTC) - date).total_seconds()) < 600, kind
        assert re.fullmatch(r"<outbox-\d+\.[0-9a-f]{16}@[\w.-]+>", message["Message-ID"]), kind
        ids.add(message["Message-ID"])
        assert message["MIME-Version"] == "1.0"
        alternative = next(p for p in message.walk() if p.get_content_type() == "multipart/alternative")
        assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"], kind
        for part in alternative.iter_parts():
            assert part["Content-Transfer-Encoding"] in ("7bit", "quoted-printable"), kind  # never base64 text
            assert part.get_content_charset() == "utf-8"
        assert message["To"].startswith("<") or message["To"].addresses, kind
    assert len(ids) == len(delivered)


def test_message_id_is_the_same_on_every_try(app, delivered):
    """Building the same outbox row twice (a retry) gives the same Message-ID and Date."""
    row = db.session.query(OutboxEmail).order_by(OutboxEmail.id).first()
    first, again = build_message(row), build_message(row)
    assert first["Message-ID"] == again["Message-ID"] and first["Date"] == again["Date"]


def test_html_part_is_the_text_part_laid_out(delivered):
    """The HTML says what the text says, in the one accessible layout: lang en-GB, a heading, paragraphs,
    a readable width, links that work, and no external resource, script or style sheet."""
    for kind, message in delivered.items():
        text, html = email_text(message), html_part(message)
        parsed = parse_html(html)
        assert parsed.lang == "en-GB", kind
        assert parsed.tags.count("h1") == 1 and "p" in parsed.tags, kind
        assert "max-width:600px" in html, kind
        assert parsed.external == [], kind
        assert "http://" not in re.sub(r'href="[^"]+"', "", html).split("</title>")[0]  # nothing loaded in <head>
        visible = " ".join(" ".join(parsed.text).split())
        body, footer = split_footer(text)
        for word in words(f"{body}\n{footer}"):
            assert word in visible, (kind, word)
        for url in re.findall(r"https?://\S+", text):
            assert url in parsed.links, (kind, url)


def test_blocks_of_text():
    """How the text part is read into the HTML: paragraphs, kept line breaks, lists, a code, the footer."""
    text = ("Hello Ada,\n\nOne paragraph.\n\nWhen: today\nWhere: here\n\nTopics:\n- One\n- Two\n\n    123456\n\n"
            "-- \nKeep it Local Network\nWhy.")
    body, footer = split_footer(text)
    assert footer == "Keep it Local Network\nWhy."
    assert [b.kind for b in blocks(body)] == ["p", "p", "lines", "list", "code"]
    assert blocks(body)[3].intro == [("Topics:", None)]


def test_html_escapes_what_the_text_holds(app):
    """Text from members (a workshop title, a name) is escaped in the HTML part, and only http(s) is a link."""
    with app.test_request_context():
        html = html_from_text('Hello <script>alert(1)</script> & "you",\n\njavascript:alert(1) https://a.example/x?y=1&z=2.',
                              "Subject <b>")
    assert "<script>" not in html and "&lt;script&gt;" in html and "<b>" not in html
    assert 'href="https://a.example/x?y=1&amp;z=2"' in html and 'href="javascript' not in html


# --- the plain text -------------------------------------------------------------------------

def _wrapped_lines(text: str) -> list[str]:
    """Lines broken inside a sentence: a line followed, in the same paragraph, by one that goes on
    in lower case."""
    lines = text.splitlines()
    return [f"{a!r} / {b!r}" for a, b in zip(lines, lines[1:], strict=False)
            if a.strip() and b.strip() and re.match(r"[a-z(]", b.strip()) and not b.startswith("    ")]


def test_no_email_breaks_a_line_inside_a_sentence(delivered):
    """The plain text reads well alone: paragraphs are one line each, never hard-wrapped."""
    for kind, message in delivered.items():
        assert _wrapped_lines(email_text(message)) == [], kind


def test_no_email_template_is_hard_wrapped():
    """Nor are the templates (those no test above renders, too)."""
    for path in TEMPLATES.glob("*.txt"):
        assert _wrapped_lines(path.read_text()) == [], path.name


def test_times_are_written_in_full_with_uk_time(delivered):
    """Every time in an email is "Tuesday 15 December 2026, 10:00am (UK time)"."""
    for kind in ("confirmed", "waitlisted", "changed", "changed_waitlisted", "promoted", "reminder",
                 "registration_cancelled", "cancelled"):
        text = email_text(delivered[kind])
        assert EMAIL_TIME.search(text), kind
        assert EMAIL_TIME.search(html_part(delivered[kind])), kind
    for path in TEMPLATES.glob("*.txt"):
        assert "|london" not in path.read_text(), f"{path.name}: times in emails use |email_time"


def test_email_time_format():
    """The one function: the day, date, 12-hour time and "(UK time)", in GMT or BST as the day has it."""
    assert format_email_time(datetime(2026, 12, 15, 10, 0, tzinfo=UTC)) == "Tuesday 15 December 2026, 10:00am (UK time)"
    assert format_email_time(datetime(2026, 6, 2, 17, 30, tzinfo=UTC)) == "Tuesday 2 June 2026, 6:30pm (UK time)"
    assert format_email_time(None) == ""


def test_every_email_has_the_footer(delivered):
    """The footer says why the member is getting the email and links to their email preferences."""
    for kind, message in delivered.items():
        _, footer = split_footer(email_text(message))
        assert "You are getting this email because" in footer, kind
        assert "/account/" in footer, kind
        assert "You are getting this email because" in html_part(message), kind


def test_every_template_has_a_footer():
    """Every email template ends with a footer (templates/email/_footer.txt or the notifications' one)."""
    for path in TEMPLATES.glob("*.txt"):
        if path.name.startswith("_"):
            continue
        source = path.read_text()
        assert "_footer.txt" in source or "preferences_url" in source, path.name


# --- SpamAssassin ---------------------------------------------------------------------------

def spamassassin_scores(messages: dict, tmp_path) -> dict[str, tuple[float, str]]:
    """Each message's SpamAssassin score and rules, local rules only (-L: no network tests), all in
    one run over an mbox."""
    (tmp_path / "in.mbox").unlink(missing_ok=True)
    box = mailbox.mbox(tmp_path / "in.mbox")
    for message in messages.values():
        box.add(mailbox.mboxMessage(message.as_bytes()))
    box.flush()
    with open(tmp_path / "in.mbox", "rb") as source:
        result = subprocess.run(["spamassassin", "-L", "--mbox"], stdin=source, capture_output=True,
                                timeout=120, check=True)
    (tmp_path / "out.mbox").write_bytes(result.stdout)
    by_id = {}
    for scored in mailbox.mbox(tmp_path / "out.mbox"):
        status = " ".join(str(scored["X-Spam-Status"]).split())
        score = float(re.search(r"score=(-?[\d.]+)", status).group(1))
        by_id[scored["Message-ID"]] = (score, status)
    return {kind: by_id[message["Message-ID"]] for kind, message in messages.items()}


@pytest.mark.skipif(shutil.which("spamassassin") is None,
                    reason="spamassassin is not installed (make spamassassin installs Debian's package)")
def test_spamassassin_scores_every_email_at_most_one(delivered, tmp_path):
    """Every kind of email scores at most 1.0 with SpamAssassin's local rules. The same email without
    its Date header scores more (the scorer is really running its rules)."""
    scores = spamassassin_scores(delivered, tmp_path)
    print("\nSpamAssassin scores:", {kind: score for kind, (score, _) in scores.items()})
    for kind, (score, status) in scores.items():
        assert score <= MAX_SCORE, f"{kind}: {status}"
    undated = delivered["confirmed"]
    del undated["Date"]
    [(score, status)] = spamassassin_scores({"undated": undated}, tmp_path).values()
    assert "MISSING_DATE" in status and score > MAX_SCORE


def test_deliver_due_twice_sends_nothing_more(delivered, mail):
    """Everything queued went in one pass (no email left behind by the quality fixtures)."""
    before = len(mail.messages)
    assert deliver_due()["sent"] == 0 and len(mail.messages) == before
