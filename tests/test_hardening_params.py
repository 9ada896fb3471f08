"""Finding 12 (issue 9): server errors from unfiltered input in query strings, path segments and dates.

Every query parameter and path segment is read through kil_network/core/params.py: a control
character is a 400 (a 404 in a path segment), a filter value that is not one of its options is
ignored, and dates are parsed by one function that never raises. The broad sweep over every
route is tests/test_fuzz_requests.py; these are the cases the attack found, one by one.
"""
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from kil_network.core.timeutil import utcnow
from kil_network.councils import services as councils
from kil_network.councils.models import Pledge, PledgeStatus
from kil_network.extensions import db
from tests.support.forms import BRISTOL, form_data, make_pledge, pledge_form

HUGE = "99999999999999999999"


def _get(client, url):
    """GET that reports an exception (the test client re-raises it) as a 500."""
    try:
        return client.get(url).status_code
    except Exception:  # noqa: BLE001 - the finding was exactly an exception
        return 500


@pytest.fixture
def call(app):
    """An open call for evidence."""
    from kil_network.evidence.models import Call

    now = utcnow()
    row = Call(title="Call", introduction="Tell us.", opens_at=now - timedelta(days=1),
               survey_closes_at=now + timedelta(days=10), written_closes_at=now + timedelta(days=20))
    db.session.add(row)
    db.session.commit()
    return row


@pytest.mark.parametrize("month", [f"{HUGE}-01", f"2026-{HUGE}", "99999-99", "2027-13", "2026-00", "١٢٣٤-٠١"])
def test_finding_12_month_overflow(client, month):
    """/workshops/?month=<20-digit year or month> was an OverflowError: now the filter is not applied."""
    assert _get(client, f"/workshops/?month={month}") == 200
    assert _get(client, f"/workshops/?when=past&month={month}") == 200


@pytest.mark.parametrize("parts", [{"pledged_on-month": HUGE}, {"pledged_on-day": HUGE},
                                   {"pledged_on-year": HUGE}, {"pledged_on-month": "9" * 5000}])
def test_finding_12_pledge_date_with_a_20_digit_month(client, auth, make_user, parts):
    """A pledge date with a 20-digit month was an OverflowError: now the form says it is not a real date."""
    make_user(email="cllr@example.org", member_type="councillor", gss_code=BRISTOL)
    auth.login("cllr@example.org")
    response = client.post_form(f"/councils/{BRISTOL}/pledge", pledge_form(**parts))
    assert response.status_code == 200
    assert "Date of the pledge must be a real date" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Pledge)) == 0


@pytest.mark.parametrize("field", ["starts_at-day", "ends_at-month", "registration_closes_at-year"])
def test_finding_12_workshop_date_with_a_huge_day(client, as_role, field):
    """A workshop date with a huge day was an OverflowError from date(): now a form error."""
    as_role("staff")
    response = client.post_form("/staff/workshops/new", form_data(**{field: HUGE}), token_from="/staff/workshops/new")
    assert response.status_code == 200
    assert "must be a real date" in response.get_data(as_text=True)


def test_finding_12_nul_in_a_path_segment_is_a_404(client, call):
    """/councils/%00 was a database error on PostgreSQL; a NUL in any text segment now matches no route."""
    for url in ["/councils/%00", f"/councils/{BRISTOL}%00/pledge", "/auth/confirm/%00", "/auth/reset/a%00b",
                "/calendar/%00.ics", f"/evidence/calls/{call.id}/received/KIL-%00",
                f"/evidence/calls/{call.id}/survey/%0a",
                "/vendor/%00"]:
        assert _get(client, url) == 404, url


def test_finding_12_int_segments_are_ascii_digits_in_range(client, call):
    """`<int:...>` took any script's digits ("１" was call 1); now only ASCII digits within INTEGER."""
    assert client.get(f"/evidence/calls/{call.id}").status_code == 200
    for segment in ["%EF%BC%91", "%D9%A1", HUGE, "2147483648", "9" * 5000]:
        assert _get(client, f"/evidence/calls/{segment}") == 404, segment


# Each page with the filters it reads.
FILTERED_PAGES = {
    "/staff/members/": ("q", "type", "region", "status", "role"), "/staff/members.csv": ("q", "region", "status"),
    "/staff/evidence/": ("q", "status", "topic", "tag", "principle"), "/staff/evidence.csv": ("q", "tag", "principle"),
    "/staff/outbox/": ("status",), "/staff/audit/": ("action",), "/staff/pledges/": ("status",),
    "/staff/organisations/": ("show",), "/members/": ("q", "type", "region"), "/organisations/": ("q",),
    "/workshops/": ("region", "format", "month", "when"),
    "/evidence/library": ("q", "topic", "principle", "type"),
}
CASES = [(page, param) for page, params in FILTERED_PAGES.items() for param in params]


@pytest.mark.parametrize(("page", "param"), CASES, ids=[f"{p}?{q}" for p, q in CASES])
def test_finding_12_staff_filters_refuse_nul(client, as_role, page, param):
    """?q=%00 and ?tag=%00 were database errors on PostgreSQL: a control character is now a 400, everywhere."""
    as_role("admin")
    assert _get(client, f"{page}?{param}=a%00b") == 400
    assert _get(client, f"{page}?{param}=%0d%0a") == 400
    assert _get(client, f"{page}?{param}=%E2%80%AE") == 200  # an invisible character is dropped, not refused


@pytest.mark.parametrize("value", [HUGE, "2147483648", "-1", "0", "%EF%BC%91", "9" * 5000])
def test_finding_12_huge_principle_and_region_filters(client, as_role, call, value):
    """?principle=<huge> and ?region=<huge> on staff pages were server errors: now the filter is not applied."""
    as_role("admin")
    for url in [f"/staff/evidence/?principle={value}", f"/staff/evidence.csv?principle={value}",
                f"/staff/members/?region={value}", f"/staff/evidence/calls/{call.id}/survey-results?region={value}",
                f"/members/?region={value}", f"/workshops/?region={value}"]:
        assert _get(client, url) == 200, url


def test_finding_12_next_with_a_newline_after_sign_in(client, make_user):
    """?next= with a CR/LF is dropped (a Location header cannot carry it): sign-in lands on the account page."""
    make_user(email="member1@example.org")
    token = client.csrf_token("/auth/login")
    response = client.post("/auth/login?next=/members/%0d%0aSet-Cookie:%20x=1",
                           data={"email": "member1@example.org", "password": "correct horse battery",
                                 "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/account/"


def test_finding_12_reverify_rejected_pledge_while_a_newer_one_is_pending(client, as_role, make_user):
    """Verifying a rejected pledge while a newer one is pending was an IntegrityError: now refused, clearly."""
    staff = make_user(email="reviewer@example.org", role="staff")
    cllr = make_user(email="cllr@example.org", member_type="councillor", gss_code=BRISTOL)
    old = make_pledge(cllr, status=PledgeStatus.REJECTED, actor=staff)
    newer = make_pledge(cllr)
    as_role("staff")
    response = client.post_form(f"/staff/pledges/{old.id}", {"decision": "verified", "note": ""})
    assert response.status_code == 422  # the queue comes back with the refusal (issue 12)
    page = response.get_data(as_text=True)
    assert "has a newer pledge that is pending. Review that one instead." in page  # no form of its own: at the top
    db.session.expire_all()
    assert db.session.get(Pledge, old.id).status == PledgeStatus.REJECTED
    assert db.session.get(Pledge, newer.id).status == PledgeStatus.PENDING
    # With no other live pledge, a rejected pledge can still be verified after all.
    councils.review_pledge(staff, db.session.get(Pledge, newer.id), PledgeStatus.REJECTED)
    db.session.commit()
    assert client.post_form(f"/staff/pledges/{old.id}", {"decision": "verified", "note": ""}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Pledge, old.id).status == PledgeStatus.VERIFIED


@settings(max_examples=150, deadline=None)
@given(year=st.text(max_size=25), month=st.text(max_size=25), day=st.text(max_size=25))
def test_finding_12_parse_date_never_raises(year, month, day):
    """The one date parser behind every date form field returns a date or None, whatever it is given."""
    from kil_network.core.params import parse_date

    result = parse_date(year, month, day)
    assert result is None or (isinstance(result, date) and 1900 <= result.year <= 2100)


@settings(max_examples=150, deadline=None)
@given(text=st.one_of(st.text(max_size=30), st.integers().map(str), st.from_regex(r"-?[0-9]{1,25}-[0-9]{1,25}")))
def test_finding_12_parse_month_and_int_arg_never_raise(text):
    """Month and integer parsing return a value in range or None, for any text."""
    from kil_network.core.params import MAX_INT, int_arg, parse_month

    month = parse_month(text)
    assert month is None or (1900 <= month[0] <= 2100 and 1 <= month[1] <= 12)
    number = int_arg(text)
    assert number is None or 0 <= number <= MAX_INT


def test_finding_12_date_parts_refuse_impossible_dates():
    """30 February, 20-digit parts and years outside 1900-2100 are not dates; typed digits of any script are."""
    from kil_network.core.params import parse_date

    assert parse_date("2027", "02", "30") is None
    assert parse_date("2027", HUGE, "1") is None and parse_date(HUGE, "1", "1") is None
    assert parse_date("99999", "1", "1") is None and parse_date("1899", "12", "31") is None
    assert parse_date("2027", "1_0", "1") is None and parse_date("2027", "+1", "1") is None
    assert parse_date(" 2027 ", "3", "28") == date(2027, 3, 28)
    assert parse_date("٢٠٢٧", "٣", "٢٨") == date(2027, 3, 28)


def test_finding_12_only_core_params_reads_the_query_string():
    """No route or template reads request.args / request.values itself: they go through core/params.py."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    direct = re.compile(r"request\.(args|values)\b(?!\s*\))")
    offenders = []
    for path in [*(root / "kil_network").rglob("*.py"), *(root / "templates").rglob("*.html")]:
        if path.name == "params.py" and path.parent.name == "core":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if direct.search(line.replace("source=request.values", "")):
                offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert not offenders, "read these through kil_network/core/params.py:\n" + "\n".join(offenders)
