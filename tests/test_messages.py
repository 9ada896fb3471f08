"""Staff messages: the audience (every filter, consent, kinds, suspended, deleted, unconfirmed),
Markdown sanitising, scheduling (idempotent, also with two concurrent runs on PostgreSQL), bulk
sending, and HTTP for every route and role; members' updates pages; personal data."""
import re
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kil_network.auth.models import Status, User
from kil_network.core.models import AuditLog, OutboxEmail
from kil_network.core.personal_data import export_sections
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import utcnow
from kil_network.evidence.models import Call, Publication, Submission
from kil_network.extensions import db
from kil_network.members.models import LocalAuthority
from kil_network.messages import audience, services
from kil_network.messages.models import Message, MessageKind, MessageStatus
from kil_network.principles.models import Draft, Principle, Round, Stance, Vote
from kil_network.workshops.models import Registration, RegistrationState, Workshop, WorkshopFormat, WorkshopStatus
from tests.support.app import make_app

pytestmark = pytest.mark.both_databases

CAMPAIGN, SERVICE = MessageKind.CAMPAIGN, MessageKind.SERVICE


def _consent(*users, value=True):
    for u in users:
        u.consent_marketing = value
    db.session.commit()


@pytest.fixture
def world(app, make_user):
    """Members of different types, places and activity, most consenting to campaign emails."""
    staff = make_user(email="staff@example.org", role="staff")
    a = make_user(email="a@example.org", member_type="councillor")
    b = make_user(email="b@example.org", member_type="commissioner", gss_code="W06000015")
    c = make_user(email="c@example.org", member_type="academic", organisation="Other Org")
    nocon = make_user(email="nocon@example.org", member_type="councillor")
    bounced = make_user(email="bounced@example.org", member_type="councillor")
    suspended = make_user(email="suspended@example.org")
    deleted = make_user(email="deleted@example.org")
    unconfirmed = make_user(email="unconfirmed@example.org", confirmed=False)
    _consent(staff, a, b, c, bounced, suspended, deleted, unconfirmed)
    bounced.email_undeliverable_at = utcnow()
    suspended.status = Status.SUSPENDED
    deleted.status = Status.DELETED
    deleted.deleted_at = utcnow()
    start = utcnow() - timedelta(days=2)
    past = Workshop(title="Past", format=WorkshopFormat.ONLINE, starts_at=start, ends_at=start + timedelta(hours=2),
                    registration_closes_at=start - timedelta(days=1), capacity=10, status=WorkshopStatus.PUBLISHED)
    db.session.add(past)
    db.session.flush()
    for user, state, checked in ((a, RegistrationState.CONFIRMED, True), (b, RegistrationState.CONFIRMED, False),
                                 (c, RegistrationState.WAITLISTED, False)):
        db.session.add(Registration(workshop_id=past.id, user_id=user.id, member_type=user.member_type, state=state,
                                    checked_in_at=utcnow() if checked else None))
    round_ = Round(name="Round A")
    principle = db.session.scalar(sa.select(Principle).order_by(Principle.number).limit(1))
    db.session.add(round_)
    db.session.flush()
    draft = Draft(round_id=round_.id, principle_id=principle.id, number=1, title="One", text="Text")
    db.session.add(draft)
    db.session.flush()
    db.session.add(Vote(draft_id=draft.id, user_id=a.id, stance=Stance.SUPPORT, member_type=a.member_type))
    call = Call(title="Call", opens_at=utcnow() - timedelta(days=1))
    db.session.add(call)
    db.session.flush()
    db.session.add(Submission(call_id=call.id, user_id=c.id, reference="KIL-E-TEST01", name="C", email=c.email,
                              respondent_type=c.member_type, text="Evidence", publication=Publication.NAMED))
    db.session.commit()
    return {"staff": staff, "a": a, "b": b, "c": c, "nocon": nocon, "bounced": bounced, "workshop": past.id,
            "round": round_.id, "call": call.id}


def emails(filters, kind=CAMPAIGN):
    """The recipients' addresses."""
    ids = audience.recipient_ids(filters, kind)
    return set(db.session.scalars(sa.select(User.email).where(User.id.in_(ids))))


# --- audience -------------------------------------------------------------------------

def test_campaign_needs_consent_and_a_deliverable_address(world):
    assert emails({}) == {"staff@example.org", "a@example.org", "b@example.org", "c@example.org"}
    assert audience.count({}, CAMPAIGN) == (4, 1, 1)


def test_service_goes_regardless_of_consent_never_to_suspended_deleted_unconfirmed(world):
    assert emails({}, SERVICE) == {"staff@example.org", "a@example.org", "b@example.org", "c@example.org",
                                   "nocon@example.org", "bounced@example.org"}
    assert audience.count({}, SERVICE) == (6, 0, 0)


def test_member_type_filter_is_or_within(world):
    assert emails({"member_types": ["councillor"]}) == {"a@example.org"}
    assert emails({"member_types": ["councillor", "academic"]}) == {"a@example.org", "c@example.org"}
    assert audience.count({"member_types": ["councillor"]}, CAMPAIGN) == (1, 1, 1)


def test_region_and_council_filters(world):
    b = world["b"]
    assert emails({"regions": [b.region_id]}) == {"b@example.org"}
    assert emails({"councils": [b.local_authority_id]}) == {"b@example.org"}
    other = db.session.scalar(sa.select(LocalAuthority.id).where(LocalAuthority.gss_code == "E06000023"))
    assert "b@example.org" not in emails({"councils": [other]})


def test_filters_combine_with_and(world):
    a = world["a"]
    assert emails({"regions": [a.region_id], "member_types": ["councillor"]}) == {"a@example.org"}
    assert emails({"regions": [world["b"].region_id], "member_types": ["councillor"]}) == set()


def test_organisation_filter(world):
    assert emails({"organisations": [world["c"].organisation_id]}) == {"c@example.org"}


@pytest.mark.parametrize(("states", "expected"), [
    ([], {"a@example.org", "b@example.org"}),
    (["registered"], {"a@example.org", "b@example.org"}),
    (["attended"], {"a@example.org"}),
    (["waitlisted"], {"c@example.org"}),
    (["no_show"], {"b@example.org"}),
    (["attended", "waitlisted"], {"a@example.org", "c@example.org"}),
])
def test_workshop_attendance_filters(world, states, expected):
    assert emails({"workshops": [world["workshop"]], "attendance": states}) == expected


def test_voted_and_not_voted(world):
    assert emails({"round": world["round"], "voted": "voted"}) == {"a@example.org"}
    assert emails({"round": world["round"], "voted": "not_voted"}) == {"staff@example.org", "b@example.org",
                                                                        "c@example.org"}


def test_submitted_evidence(world):
    assert emails({"calls": [world["call"]]}) == {"c@example.org"}


def test_clean_drops_unknown_values():
    assert audience.clean({"regions": ["x", "3", "99999999999999999999", "\x00"], "member_types": ["nope"],
                           "voted": "voted", "junk": 1}) == {"regions": [3]}


def test_count_and_ids_are_one_statement_each(world):
    statements = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    filters = {"regions": [1], "workshops": [world["workshop"]], "round": world["round"], "calls": [world["call"]],
               "member_types": ["councillor"], "attendance": ["no_show", "attended"]}
    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        audience.count(filters, CAMPAIGN)
        audience.recipient_ids(filters, SERVICE)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
    assert len(statements) == 2


# --- Markdown ---------------------------------------------------------------------------

@pytest.mark.parametrize("body", ["<script>alert(1)</script>", "[x](javascript:alert(1))",
                                  "<img src=x onerror=alert(1)>", "<a href='javascript:alert(1)'>x</a>",
                                  "[x](JaVaScRiPt:alert(1))", "<iframe src=https://e.org></iframe>"])
def test_markdown_drops_scripts_and_raw_html(app, body):
    html = services.render_html(body)
    assert "<script" not in html and "<iframe" not in html and "<img" not in html
    assert "javascript:" not in "".join(re.findall(r"<a [^>]*>", html)).lower()


def test_markdown_renders_safe_formatting(app):
    html = services.render_html("# Title\n\nSome **bold** and [a link](https://example.org).\n\n- one\n- two")
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer">a link</a>' in html
    assert "<li>one</li>" in html
    text = services.render_text("# Title\n\nSome **bold** and [a link](https://example.org).")
    assert text == "Title\n\nSome bold and a link (https://example.org).\n"


# --- drafts, sending, scheduling -----------------------------------------------------------

def _draft(world, kind="campaign", filters=None, body="Hello **all**."):
    return services.create_draft(world["staff"], {"subject": "News", "body": body, "kind": kind,
                                                  "audience": filters or {}})


def test_draft_limits(world):
    with pytest.raises(RuleError):
        _draft(world, body="x" * 20_001)
    with pytest.raises(RuleError):
        services.create_draft(world["staff"], {"subject": "x" * 201, "body": "", "kind": "campaign"})
    with pytest.raises(RuleError):
        services.create_draft(world["staff"], {"subject": "S", "body": "", "kind": "spam"})


def test_send_now_queues_copies_in_bulk_with_headers_and_audit(world):
    message = _draft(world)
    db.session.commit()
    assert services.send_now(world["staff"], message) == 4
    db.session.commit()
    assert message.status == MessageStatus.SENT and message.recipient_count == 4 and message.excluded_count == 2
    copies = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.message_id == message.id)).all()
    assert {c.to_address for c in copies} == {"staff@example.org", "a@example.org", "b@example.org", "c@example.org"}
    for copy in copies:
        assert copy.kind == "campaign" and copy.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = copy.headers["List-Unsubscribe"].strip("<>")
        assert link.startswith("http") and link in copy.body_text and link in copy.body_html
        assert "<strong>all</strong>" in copy.body_html
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "message.send"))
    assert entry.actor_id == world["staff"].id and entry.details["recipients"] == 4
    with pytest.raises(RuleError):
        services.send_now(world["staff"], message)  # never twice


def test_service_copies_have_no_unsubscribe_headers(world):
    message = _draft(world, kind="service")
    assert services.send_now(world["staff"], message) == 6
    copy = db.session.scalar(sa.select(OutboxEmail).where(OutboxEmail.message_id == message.id).limit(1))
    assert copy.kind == "service" and copy.headers == {}


def test_send_test_goes_to_the_staff_member_only(world):
    message = _draft(world)
    services.send_test(world["staff"], message)
    rows = db.session.scalars(sa.select(OutboxEmail)).all()
    assert [(r.to_address, r.message_id) for r in rows] == [("staff@example.org", None)]
    assert rows[0].subject.startswith("[Test]")


def test_schedule_refuses_the_past_then_send_scheduled_is_idempotent(world, app):
    message = _draft(world)
    with pytest.raises(RuleError):
        services.schedule(world["staff"], message, utcnow() - timedelta(minutes=1))
    services.schedule(world["staff"], message, utcnow() + timedelta(minutes=5))
    db.session.commit()
    assert services.send_scheduled() == []  # not due yet
    db.session.execute(sa.update(Message).values(scheduled_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert services.send_scheduled() == [(message.id, 4)]
    assert services.send_scheduled() == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEmail)) == 4


def test_cancel_a_scheduled_message(world):
    message = _draft(world)
    services.schedule(world["staff"], message, utcnow() + timedelta(hours=1))
    services.cancel(world["staff"], message)
    assert message.status == MessageStatus.CANCELLED
    with pytest.raises(RuleError):
        services.cancel(world["staff"], message)
    with pytest.raises(RuleError):
        services.update_draft(world["staff"], message, {"subject": "x", "body": "", "kind": "campaign"})


def test_progress_counts_outbox_rows(world):
    message = _draft(world)
    services.send_now(world["staff"], message)
    db.session.commit()
    first = db.session.scalar(sa.select(OutboxEmail.id).where(OutboxEmail.message_id == message.id).limit(1))
    db.session.execute(sa.update(OutboxEmail).where(OutboxEmail.id == first).values(status=OutboxEmail.SENT))
    progress = services.progress(message)
    assert (progress.total, progress.queued, progress.sent, progress.failed, progress.percent) == (4, 3, 1, 0, 25)
    db.session.execute(sa.update(OutboxEmail).values(status=OutboxEmail.FAILED))
    assert services.progress(message).complete and services.progress(message).percent == 100


def test_concurrent_send_scheduled_sends_once(world, database_url):
    """Two send-scheduled runs at once (PostgreSQL row locks): every message queued exactly once."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrency is proved on PostgreSQL")
    ids = []
    for _ in range(3):
        message = _draft(world)
        services.schedule(world["staff"], message, utcnow() + timedelta(minutes=5))
        ids.append(message.id)
    db.session.commit()
    db.session.execute(sa.update(Message).values(scheduled_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    other = make_app(database_url)
    barrier, results, errors = threading.Barrier(2), [], []

    def run():
        try:
            with other.app_context():
                barrier.wait(timeout=30)
                results.extend(services.send_scheduled())
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    with other.app_context():
        db.engine.dispose()
    assert errors == []
    assert sorted(mid for mid, _ in results) == sorted(ids)
    db.session.expire_all()
    counts = dict(db.session.execute(sa.select(OutboxEmail.message_id, sa.func.count())
                                     .group_by(OutboxEmail.message_id)).all())
    assert counts == dict.fromkeys(ids, 4)


def test_send_scheduled_command(world, runner):
    message = _draft(world)
    services.schedule(world["staff"], message, utcnow() + timedelta(minutes=5))
    db.session.execute(sa.update(Message).values(scheduled_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    result = runner.invoke(args=["send-scheduled"])
    assert result.exit_code == 0 and f"message {message.id} queued to 4" in result.output
    assert runner.invoke(args=["send-scheduled"]).output == ""


# --- members' pages and personal data --------------------------------------------------------

def test_updates_list_only_campaigns_sent_to_the_member(world, client, auth):
    sent = _draft(world)
    services.send_now(world["staff"], sent)
    service = _draft(world, kind="service")
    services.send_now(world["staff"], service)
    other = _draft(world, filters={"member_types": ["academic"]})
    services.send_now(world["staff"], other)
    db.session.commit()
    auth.login("a@example.org")
    page = client.get("/updates/").get_data(as_text=True)
    assert f"/updates/{sent.id}" in page and f"/updates/{service.id}" not in page and f"/updates/{other.id}" not in page
    assert client.get(f"/updates/{sent.id}").status_code == 200
    assert "<strong>all</strong>" in client.get(f"/updates/{sent.id}").get_data(as_text=True)
    for mid in (service.id, other.id, 99999, "12345678901234567890"):
        assert client.get(f"/updates/{mid}").status_code == 404
    assert client.get("/updates/%00").status_code == 404


def test_updates_need_sign_in(client, app):
    assert client.get("/updates/").status_code == 302
    assert client.get("/updates/1").status_code == 302


def test_export_and_erasure(world):
    message = _draft(world)
    services.send_now(world["staff"], message)
    db.session.commit()
    section = export_sections(world["a"])["messages_received"]
    assert section[0]["subject"] == "News" and section[0]["kind"] == "campaign"
    from kil_network.core.personal_data import run_erasers
    run_erasers(world["a"])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEmail)
                             .where(OutboxEmail.to_address == "a@example.org")) == 0


# --- HTTP ---------------------------------------------------------------------------------

STAFF_GETS = ["/staff/messages/", "/staff/messages/new", "/staff/messages/{id}", "/staff/messages/{id}/preview",
              "/staff/messages/{id}/progress", "/staff/messages/count?regions=1&kind=service"]
STAFF_POSTS = ["/staff/messages/{id}/test", "/staff/messages/{id}/schedule", "/staff/messages/{id}/cancel",
               "/staff/messages/{id}/send", "/staff/messages/{id}", "/staff/messages/new"]


@pytest.mark.parametrize("role", ["anonymous", "member", "staff"])
def test_staff_routes_by_role(world, client, as_role, auth, role):
    message = _draft(world)
    db.session.commit()
    auth.login("staff@example.org") if role == "staff" else as_role(role)
    for url in STAFF_GETS:
        response = client.get(url.format(id=message.id))
        expected = {"anonymous": 302, "member": 403, "staff": 200}[role]
        assert response.status_code == expected, url
    if role != "staff":
        for url in STAFF_POSTS:
            response = client.post(url.format(id=message.id), data={})
            assert response.status_code in (302, 400, 403), url
        assert db.session.get(Message, message.id).status == MessageStatus.DRAFT


@pytest.mark.parametrize("bad", ["99999", "12345678901234567890", "%00", "x"])
def test_wrong_ids_404(world, client, auth, bad):
    auth.login("staff@example.org")
    for url in ("/staff/messages/{id}", "/staff/messages/{id}/preview", "/staff/messages/{id}/progress"):
        assert client.get(url.format(id=bad)).status_code == 404


def _csrf(client, url):
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


def test_compose_preview_test_send_over_http(world, client, auth):
    auth.login("staff@example.org")
    token = _csrf(client, "/staff/messages/new")
    response = client.post("/staff/messages/new", data={
        "csrf_token": token, "subject": "Hello", "body": "Hi <script>x</script> **there**", "kind": "campaign",
        "member_types": ["councillor", "commissioner"], "round": "", "voted": ""})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    message = db.session.scalar(sa.select(Message))
    assert message.audience == {"member_types": ["commissioner", "councillor"]}
    page = client.get(f"/staff/messages/{message.id}").get_data(as_text=True)
    assert "2 members" in page and "Send now to 2 members" in page
    count = client.get("/staff/messages/count?member_types=councillor&kind=campaign",
                       headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "1 member" in count and "not agreed to campaign emails" in count and "<html" not in count
    preview = client.get(f"/staff/messages/{message.id}/preview").get_data(as_text=True)
    assert 'sandbox=""' in preview and "srcdoc=" in preview and "&lt;script&gt;" in preview
    assert client.post(f"/staff/messages/{message.id}/test", data={"csrf_token": token}).status_code == 303
    assert client.post(f"/staff/messages/{message.id}/send", data={"csrf_token": token}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Message, message.id).status == MessageStatus.SENT
    sending = client.get(f"/staff/messages/{message.id}").get_data(as_text=True)
    assert "<progress" in sending and 'data-hx-trigger="every 2s"' in sending
    db.session.execute(sa.update(OutboxEmail).values(status=OutboxEmail.SENT))
    db.session.commit()
    done = client.get(f"/staff/messages/{message.id}/progress", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "100%" in done and "every 2s" not in done
    assert "Sent (1)" in client.get("/staff/messages/").get_data(as_text=True)


def test_compose_errors_keep_what_was_typed(world, client, auth):
    auth.login("staff@example.org")
    token = _csrf(client, "/staff/messages/new")
    response = client.post("/staff/messages/new", data={"csrf_token": token, "subject": "", "body": "Kept words",
                                                        "kind": "campaign"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Enter a subject" in page and "Kept words" in page
    response = client.post("/staff/messages/new", headers={"HX-Request": "true"},
                           data={"csrf_token": token, "subject": "x" * 201, "body": "Kept", "kind": "campaign"})
    assert response.status_code == 422


def test_schedule_and_cancel_over_http(world, client, auth):
    message = _draft(world)
    db.session.commit()
    auth.login("staff@example.org")
    token = _csrf(client, f"/staff/messages/{message.id}")
    past = client.post(f"/staff/messages/{message.id}/schedule", data={
        "csrf_token": token, "send_at-day": "1", "send_at-month": "1", "send_at-year": "2020", "send_at-time": "10:00"})
    assert past.status_code == 200 and "must be in the future" in past.get_data(as_text=True)
    assert 'value="2020"' in past.get_data(as_text=True) and "data-error-summary" in past.get_data(as_text=True)
    later = utcnow() + timedelta(days=30)
    response = client.post(f"/staff/messages/{message.id}/schedule", data={
        "csrf_token": token, "send_at-day": str(later.day), "send_at-month": str(later.month),
        "send_at-year": str(later.year), "send_at-time": "10:00"})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Message, message.id).status == MessageStatus.SCHEDULED
    assert client.post(f"/staff/messages/{message.id}/cancel", data={"csrf_token": token}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Message, message.id).status == MessageStatus.CANCELLED


def test_preview_has_both_parts_without_inline_styles(world):
    message = _draft(world)
    rendered = services.preview(message)
    assert "<strong>all</strong>" in rendered.html and " style=" not in rendered.html
    assert "Hello all." in rendered.text and services.UNSUBSCRIBE_PLACEHOLDER not in rendered.text + rendered.html
