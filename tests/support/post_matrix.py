"""The state-changing routes' matrix: what each role gets from each POST/PUT/PATCH/DELETE route,
its rows and signed-in clients (fixtures), and the checks that a refused request changed nothing.
Used by test_security_matrix.py and by the CSRF hardening tests (test_hardening_forms.py)."""
import html
import re
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from kil_network.extensions import db

ROLES = ("anonymous", "unconfirmed", "member", "staff", "admin")

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

CSRF_MESSAGE = "The form had expired or was sent from somewhere else"

# A form refused for its token comes back with what was typed and this message (core/csrf.py).
EXPIRED_MESSAGE = "Your session had expired. Check your answers and send again."

FORBIDDEN_MESSAGE = "You do not have permission to see this page"

PASSWORD = "correct horse battery"

TOKEN_PAGE = "/privacy"  # a light page; the layout carries the session's CSRF token for htmx

# Outcomes:
#   "ok"       past the access check (a form error, a flash and a redirect, or the change itself);
#   "refused"  past the access check, but a rule in the service turns this role away: nothing changes;
#   "login"    302 to sign-in with next=<the url>; nothing changes;
#   "account"  302 to /account/ (unconfirmed members, or signed-in members posting join/sign-in); nothing changes;
#   403        the friendly 403 page; nothing changes.
PUBLIC = dict.fromkeys(ROLES, "ok")

SIGNED_IN = {"anonymous": "login", "unconfirmed": "ok", "member": "ok", "staff": "ok", "admin": "ok"}

# Signed in is enough for the route; taking part needs a confirmed address (checked in the service).
TAKES_PART = {**SIGNED_IN, "unconfirmed": "refused"}

CONFIRMED = {"anonymous": "login", "unconfirmed": "account", "member": "ok", "staff": "ok", "admin": "ok"}

STAFF = {"anonymous": "login", "unconfirmed": 403, "member": 403, "staff": "ok", "admin": "ok"}

SIGNED_OUT_ONLY = {"anonymous": "ok", "unconfirmed": "account", "member": "account", "staff": "account",
                   "admin": "account"}

# url_map rule -> (a concrete URL, {role: outcome}, the form sent besides the CSRF token).
# Placeholders come from `post_ids`: those of the GET matrix plus "{mail}" (a failed email),
# "{pledge}" (a pending pledge) and "{reset_token}" (a valid reset link of the listed member).
EXPECTED = {
    # Auth
    "/auth/join": ("/auth/join", SIGNED_OUT_ONLY, {}),
    "/auth/login": ("/auth/login", SIGNED_OUT_ONLY, {}),
    "/auth/logout": ("/auth/logout", PUBLIC, {}),
    "/auth/logout-everywhere": ("/auth/logout-everywhere", PUBLIC, {}),
    "/auth/reset": ("/auth/reset", PUBLIC, {}),
    "/auth/reset/<token>": ("/auth/reset/{reset_token}", PUBLIC, {}),
    "/auth/confirm/resend": ("/auth/confirm/resend", SIGNED_IN, {}),
    # Account and organisations
    "/account/": ("/account/", SIGNED_IN, {}),
    "/account/password": ("/account/password", SIGNED_IN, {}),
    "/account/email": ("/account/email", SIGNED_IN, {}),
    "/account/delete": ("/account/delete", SIGNED_IN, {}),
    "/account/notifications": ("/account/notifications", SIGNED_IN, {}),
    "/unsubscribe/<token>": ("/unsubscribe/{unsubscribe}", PUBLIC, {"List-Unsubscribe": "One-Click"}),
    "/account/workshops/calendar": ("/account/workshops/calendar", SIGNED_IN, {}),
    "/organisations/<int:org_id>/edit": (
        "/organisations/{org}/edit",
        {"anonymous": "login", "unconfirmed": "account", "member": 403, "staff": "ok", "admin": "ok"}, {}),
    # "{own_org}": the organisation every signed-in role belongs to (not as editor); its founder's
    # editor row and a colleague's waiting request. Members ask; editors and staff answer.
    "/organisations/<int:org_id>/editors/request": ("/organisations/{own_org}/editors/request", CONFIRMED, {}),
    "/organisations/<int:org_id>/editors/<int:row_id>/decide": (
        "/organisations/{own_org}/editors/{org_request}/decide", {**CONFIRMED, "member": 403}, {"decision": "approve"}),
    "/organisations/<int:org_id>/editors/<int:row_id>/remove": (
        "/organisations/{own_org}/editors/{org_editor}/remove", {**CONFIRMED, "member": 403}, {}),
    "/organisations/<int:org_id>/editors/appoint": ("/organisations/{own_org}/editors/appoint", STAFF, {}),
    # Staff: members and the outbox. Staff may not grant staff rights; admins may.
    "/staff/members/<int:member_id>/suspend": ("/staff/members/{listed}/suspend", STAFF, {"reason": ""}),
    "/staff/members/<int:member_id>/reactivate": ("/staff/members/{listed}/reactivate", STAFF, {}),
    "/staff/members/<int:member_id>/role": (
        "/staff/members/{listed}/role", {**STAFF, "staff": "refused"}, {"role": "staff"}),
    "/staff/outbox/<int:mail_id>/retry": ("/staff/outbox/{mail}/retry", STAFF, {}),
    # Workshops
    "/workshops/<int:workshop_id>/register": ("/workshops/{workshop}/register", TAKES_PART, {}),
    "/workshops/<int:workshop_id>/cancel": ("/workshops/{workshop}/cancel", SIGNED_IN, {}),
    "/staff/workshops/new": ("/staff/workshops/new", STAFF, {}),
    "/staff/workshops/<int:workshop_id>/edit": ("/staff/workshops/{workshop}/edit", STAFF, {}),
    "/staff/workshops/<int:workshop_id>/publish": ("/staff/workshops/{workshop}/publish", STAFF, {}),
    "/staff/workshops/<int:workshop_id>/cancel": ("/staff/workshops/{workshop}/cancel", STAFF, {}),
    "/staff/workshops/<int:workshop_id>/attendance/<int:registration_id>": (
        "/staff/workshops/{workshop}/attendance/{reg}", STAFF, {}),
    "/staff/workshops/<int:workshop_id>/walk-in": ("/staff/workshops/{workshop}/walk-in", STAFF, {}),
    "/staff/workshops/<int:workshop_id>/live": ("/staff/workshops/{workshop}/live", STAFF, {}),
    "/staff/workshops/<int:workshop_id>/control": ("/staff/workshops/{workshop}/control", STAFF, {"tallies": "shown"}),
    "/staff/workshops/<int:workshop_id>/attendance/<int:registration_id>/undo": (
        "/staff/workshops/{workshop}/attendance/{reg}/undo", STAFF, {}),
    "/staff/workshops/<int:workshop_id>/scan": ("/staff/workshops/{workshop}/scan", STAFF, {"code": "not-a-ticket"}),
    # The offline queue (JSON from checkin-offline.js; a form post carries the same document as `payload`).
    "/staff/workshops/<int:workshop_id>/attendance/sync": (
        "/staff/workshops/{workshop}/attendance/sync", STAFF, {"payload": '{"check_ins": []}'}),
    # The workshop's live page: without the room code's presence (or signed in) each step sends back.
    "/w/<int:workshop_id>/email": ("/w/{workshop}/email", PUBLIC, {"email": "someone@example.org"}),
    "/w/<int:workshop_id>/join": ("/w/{workshop}/join", PUBLIC, {}),
    "/w/<int:workshop_id>/code": ("/w/{workshop}/code", PUBLIC, {"code": "123456"}),
    "/w/sign-in/<token>": ("/w/sign-in/not-a-real-token", PUBLIC, {}),
    # Principles: a valid vote, suggestion and endorsement, so the unconfirmed member's refusal is real.
    "/principles/drafts/<int:draft_id>/vote": ("/principles/drafts/{draft}/vote", TAKES_PART, {"stance": "support"}),
    "/principles/drafts/<int:draft_id>/suggestions": (
        "/principles/drafts/{draft}/suggestions", TAKES_PART, {"text": "Plainer words", "reason": "Clearer"}),
    "/principles/suggestions/<int:suggestion_id>/endorse": (
        "/principles/suggestions/{suggestion}/endorse", TAKES_PART, {}),
    "/staff/rounds/new": ("/staff/rounds/new", STAFF, {}),
    "/staff/rounds/<int:round_id>/edit": ("/staff/rounds/{round}/edit", STAFF, {}),
    "/staff/rounds/<int:round_id>/open": ("/staff/rounds/{round}/open", STAFF, {}),
    "/staff/rounds/<int:round_id>/close": ("/staff/rounds/{round}/close", STAFF, {}),
    "/staff/rounds/<int:round_id>/adopt": ("/staff/rounds/{closed_round}/adopt", STAFF, {}),
    "/staff/rounds/<int:round_id>/reopen": ("/staff/rounds/{closed_round}/reopen", STAFF, {}),
    "/staff/suggestions/<int:suggestion_id>/respond": ("/staff/suggestions/{suggestion}/respond", STAFF, {}),
    "/staff/moderation/<item_kind>/<int:item_id>/approve": ("/staff/moderation/comment/{comment}/approve", STAFF, {}),
    "/staff/moderation/<item_kind>/<int:item_id>/hide": (
        "/staff/moderation/comment/{comment}/hide", STAFF, {"reason": "Names a person"}),
    "/staff/moderation/<item_kind>/<int:item_id>/redact": (
        "/staff/moderation/suggestion/{suggestion}/redact", STAFF, {"text": "Better wording", "reason": ""}),
    # Call for evidence
    "/evidence/calls/<int:call_id>/submit": ("/evidence/calls/{call}/submit", PUBLIC, {}),
    "/evidence/calls/<int:call_id>/survey/<question_id>": ("/evidence/calls/{call}/survey/delivers", PUBLIC, {}),
    "/evidence/calls/<int:call_id>/survey/check": ("/evidence/calls/{call}/survey/check", PUBLIC, {}),
    "/evidence/confirm/<token>": ("/evidence/confirm/{evidence_token}", PUBLIC, {}),
    "/staff/evidence/<int:submission_id>": ("/staff/evidence/{submission}", STAFF, {}),
    "/staff/evidence/calls/new": ("/staff/evidence/calls/new", STAFF, {}),
    "/staff/evidence/calls/<int:call_id>/edit": ("/staff/evidence/calls/{call}/edit", STAFF, {}),
    # Councils and pledges
    "/councils/<gss_code>/pledge": ("/councils/E06000023/pledge", CONFIRMED, {}),
    "/staff/pledges/<int:pledge_id>": ("/staff/pledges/{pledge}", STAFF, {}),
    # Staff on the journey (post_ids): "{submitted}" is Bristol's assessment waiting for review;
    # "{named_champion}" its named champion; "{introduction}" its request to meet Plymouth.
    "/staff/councils/<gss_code>/assessments/<int:assessment_id>/review": (
        "/staff/councils/E06000023/assessments/{submitted}/review", STAFF, {"decision": "accept"}),
    "/staff/councils/<gss_code>/champions/<int:champion_id>/remove": (
        "/staff/councils/E06000023/champions/{named_champion}/remove", STAFF, {}),
    "/staff/councils/introductions/<int:introduction_id>/handled": (
        "/staff/councils/introductions/{introduction}/handled", STAFF, {}),
    # The council journey (Bristol, E06000023): no role here is a councillor or officer of Bristol, so
    # journey.services refuses them and the page says why (422, nothing written: tests/test_http_journey.py
    # checks every refusal leaves the data as it was); staff may appoint champions, record the
    # conversation and end an appointment. "{assessment}": Bristol's draft, which members may not see
    # (403); "{champion_token}": the listed member's invitation, which the roles may not accept.
    "/councils/<gss_code>/interest": ("/councils/E06000023/interest", CONFIRMED, {}),
    "/councils/<gss_code>/endorsement": ("/councils/E06000023/endorsement", CONFIRMED, {}),
    "/councils/<gss_code>/champions": ("/councils/E06000023/champions", CONFIRMED, {}),
    "/councils/<gss_code>/champions/<int:champion_id>/end": (
        "/councils/E06000023/champions/{champion}/end", CONFIRMED, {}),
    "/councils/<gss_code>/conversations": ("/councils/E06000023/conversations", CONFIRMED, {}),
    "/councils/champions/accept/<token>": ("/councils/champions/accept/{champion_token}", CONFIRMED, {}),
    "/councils/<gss_code>/peers/introduce": ("/councils/E06000023/peers/introduce", CONFIRMED, {}),
    "/councils/<gss_code>/assessments/new": ("/councils/E06000023/assessments/new", CONFIRMED, {}),
    "/councils/<gss_code>/assessments/<int:assessment_id>": (
        "/councils/E06000023/assessments/{assessment}", {**STAFF, "unconfirmed": 403}, {"action": "save"}),
    "/councils/<gss_code>/assessments/<int:assessment_id>/submit": (
        "/councils/E06000023/assessments/{assessment}/submit", {**STAFF, "unconfirmed": "account"}, {}),
    "/councils/<gss_code>/assessments/<int:assessment_id>/publish": (
        "/councils/E06000023/assessments/{assessment}/publish", {**STAFF, "unconfirmed": "account"}, {}),
    "/councils/<gss_code>/assessments/<int:assessment_id>/unpublish": (
        "/councils/E06000023/assessments/{assessment}/unpublish", {**STAFF, "unconfirmed": "account"}, {}),
    # Staff messages ("{message}": a draft)
    "/staff/messages/new": ("/staff/messages/new", STAFF, {}),
    "/staff/messages/<int:message_id>": ("/staff/messages/{message}", STAFF, {}),
    "/staff/messages/<int:message_id>/test": ("/staff/messages/{message}/test", STAFF, {}),
    "/staff/messages/<int:message_id>/schedule": ("/staff/messages/{message}/schedule", STAFF, {}),
    "/staff/messages/<int:message_id>/cancel": ("/staff/messages/{message}/cancel", STAFF, {}),
    "/staff/messages/<int:message_id>/send": ("/staff/messages/{message}/send", STAFF, {}),
}

DENIED = {"login", "account", 403}

# Routes that take no CSRF token on purpose, and why (the security matrix checks they still answer
# a post with no cookies and no token).
CSRF_EXEMPT = {
    "/unsubscribe/<token>": "RFC 8058 one-click: the mail provider posts with no cookies and no token; the "
                            "signed token in the URL authorises it, and all it can do is withdraw consent",
}


@pytest.fixture

def post_ids(ids, listed):
    """The GET matrix's ids plus a failed email, a pending pledge and a valid reset link."""
    from kil_network.auth.services import make_reset_token
    from kil_network.core.models import OutboxEmail
    from kil_network.councils.models import Pledge, SignedBy
    from kil_network.evidence.models import Submission
    from kil_network.evidence.services import confirm_token
    from kil_network.journey import models as journey_models
    from kil_network.journey import services as journey
    from kil_network.journey.models import Champion
    from kil_network.members.models import LocalAuthority

    mail = OutboxEmail(to_address="listed@example.org", subject="Hello", body_text="Hello.",
                       status=OutboxEmail.FAILED, attempts=8, last_error="refused")
    council = db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code != "E06000023")
                                .order_by(LocalAuthority.gss_code).limit(1))
    pledge = Pledge(local_authority_id=council.id, submitted_by_id=listed.id,
                    signed_by=SignedBy.CABINET_DECISION, signatories="The cabinet", pledged_on=date(2026, 11, 1))
    bristol, plymouth = (db.session.scalar(sa.select(LocalAuthority.id).where(LocalAuthority.gss_code == code))
                         for code in ("E06000023", "E06000026"))
    # The journey for staff: "{introduction}" Bristol asks to meet Plymouth; "{submitted}" Bristol's previous
    # year's assessment, waiting for review; "{named_champion}" a named person staff may remove on request.
    introduction = journey_models.PeerIntroduction(requested_by_id=listed.id, from_local_authority_id=bristol,
                                                   to_local_authority_id=plymouth, principle_number=2, message="Hi.")
    submitted = journey_models.Assessment(local_authority_id=bristol, round_id=ids["closed_round"],
                                          year=date.today().year - 1,
                                          status=journey_models.AssessmentStatus.SUBMITTED)
    named = journey_models.Champion(local_authority_id=bristol, name="Named On Request",
                                    role=journey_models.ChampionRole.SENIOR_MANAGEMENT)
    db.session.add_all([mail, pledge, introduction, submitted, named])
    db.session.commit()
    return {**ids, "mail": mail.id, "pledge": pledge.id, "introduction": introduction.id, "submitted": submitted.id,
            "named_champion": named.id,
            "reset_token": make_reset_token(listed),
            "evidence_token": confirm_token(db.session.get(Submission, ids["submission"])),
            "champion_token": journey.champion_token(db.session.get(Champion, ids["invited"]))}


@pytest.fixture

def signed_in(app, make_user):
    """A client signed in as the role (a fresh one each call), with its session's CSRF token."""

    def sign_in(role: str):
        client = app.test_client()
        if role != "anonymous":
            make_user(email=f"{role}@example.org", role=role if role in ("staff", "admin") else "member",
                      confirmed=role != "unconfirmed")
            response = client.post_form("/auth/login", {"email": f"{role}@example.org", "password": PASSWORD},
                                        token_from=TOKEN_PAGE)
            assert response.status_code == 302, response.get_data(as_text=True)[:300]
        return client, client.csrf_token(TOKEN_PAGE)  # sign-in starts a new session, with a new token

    return sign_in


def snapshot() -> dict:
    """Every row of every table, so a refused request can be shown to have changed nothing."""
    rows = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows[table.name] = [tuple(row) for row in conn.execute(sa.select(table).order_by(*order))]
    return rows


def changes(before: dict, after: dict) -> dict:
    """The tables whose rows differ, with the rows that appeared or went."""
    diff = {}
    for name in before:
        if before[name] != after[name]:
            old, new = set(before[name]), set(after[name])
            diff[name] = {"gone": sorted(map(str, old - new))[:3], "new": sorted(map(str, new - old))[:3]}
    return diff


def past_access_check(response) -> bool:
    """The request reached the view: not refused, not sent to sign in, not a CSRF failure."""
    body = response.get_data(as_text=True)
    location = urlsplit(response.headers.get("Location") or response.headers.get("HX-Redirect") or "")
    return (response.status_code in (200, 302, 303, 422) and location.path != "/auth/login"
            and FORBIDDEN_MESSAGE not in body and CSRF_MESSAGE not in body and EXPIRED_MESSAGE not in body)


def check_outcome(response, expected, url: str) -> None:
    """The response is the outcome EXPECTED gives for this role."""
    body = response.get_data(as_text=True)
    assert CSRF_MESSAGE not in body and EXPIRED_MESSAGE not in body, "a valid CSRF token was refused"
    if expected == "login":
        assert response.status_code == 302, body[:300]
        location = urlsplit(response.headers["Location"])
        assert location.path == "/auth/login"
        assert parse_qs(location.query)["next"] == [url]
    elif expected == "account":
        assert response.status_code == 302, body[:300]
        assert urlsplit(response.headers["Location"]).path == "/account/"
    elif expected == 403:
        assert response.status_code == 403, body[:300]
        assert FORBIDDEN_MESSAGE in body
    else:
        assert past_access_check(response), f"{response.status_code} {response.headers.get('Location')} {body[:300]}"


def write_method(app, rule: str) -> str:
    """The state-changing method the rule takes (POST for every form today)."""
    methods = set().union(*(r.methods for r in app.url_map.iter_rules() if r.rule == rule)) & WRITE_METHODS
    return "POST" if "POST" in methods else sorted(methods)[0]


def csrf_role(outcomes: dict) -> str:
    """The role to send the CSRF cases as: one the route lets through (a member if it can)."""
    return next(role for role in ("member", "staff", "admin", "anonymous", "unconfirmed") if outcomes[role] == "ok")


def check_csrf_refused(client, method: str, url: str, form: dict, other_token: str) -> None:
    """No token, a wrong one, another session's, or a wrong htmx header: the 400 page and nothing written."""
    attempts = {
        "no token": dict(data=dict(form)),
        "wrong token": dict(data={**form, "csrf_token": "not-a-real-token"}),
        "another session's token": dict(data={**form, "csrf_token": other_token}),
        "wrong htmx header": dict(data=dict(form), headers={"HX-Request": "true", "X-CSRFToken": "not-a-real-token"}),
    }
    for name, kwargs in attempts.items():
        before = snapshot()
        response = client.open(url, method=method, **kwargs)
        html = response.get_data(as_text=True)
        assert response.status_code == 400, f"CSRF, {name}: {response.status_code} {html[:300]}"
        assert CSRF_MESSAGE in html or EXPIRED_MESSAGE in html, f"CSRF, {name}"
        assert ("<html" in html) is ("headers" not in kwargs), f"CSRF, {name}: a full page, or a fragment for htmx"
        assert changes(before, snapshot()) == {}, f"CSRF, {name}: something was written"


# --- The text a form carries, and whether a response shows it back (the "keeps what was typed" tests) ---

def words(response) -> str:
    """The response's text with tags removed and entities decoded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def shows(response, value: str) -> bool:
    """The value is on the page: as text (a textarea) or as a field's value."""
    if value in words(response) or f'value="{html.escape(value)}"' in response.get_data(as_text=True):
        return True
    squeezed = "".join(html.unescape(response.get_data(as_text=True)).split()).lower()
    return "".join(value.split()).lower() in squeezed  # kept, but normalised by a filter (a postcode)


TEXT_INPUT = re.compile(r'<input\b(?=[^>]*\bname="([^"]+)")'
                        r'(?![^>]*type="(?:hidden|password|radio|checkbox|submit|file)")[^>]*>'
                        r'|<textarea\b[^>]*\bname="([^"]+)"', re.S)
FORM_RE = re.compile(r'<form\b[^>]*action="([^"]*)"[^>]*>(.*?)</form>', re.S)
# Forms posted from another page (no GET on their own URL): the text fields they carry.
POSTED_FROM_ELSEWHERE = {
    "/principles/drafts/<int:draft_id>/vote": ["comment"],
    "/principles/drafts/<int:draft_id>/suggestions": ["text", "reason"],
    "/staff/workshops/<int:workshop_id>/walk-in": ["name"],
    "/workshops/<int:workshop_id>/register": ["access_needs"],
    "/staff/members/<int:member_id>/suspend": ["reason"],
    "/staff/pledges/<int:pledge_id>": ["note"],
    "/staff/councils/<gss_code>/assessments/<int:assessment_id>/review": ["comments"],
    # The journey page's forms (their fields carry the form's prefix).
    "/councils/<gss_code>/interest": ["interest-note"],
    "/councils/<gss_code>/endorsement": ["endorsement-link_url"],
    "/councils/<gss_code>/champions": ["named-name", "named-job_title"],
    "/councils/<gss_code>/conversations": ["conversation-title", "conversation-summary"],
    "/councils/<gss_code>/peers/introduce": ["message"],
}
LIMIT_RE = re.compile(r'id="([^"]+)-info">You can enter up to ([\d,]+) characters')


def text_fields(client, url: str) -> list[str]:
    """The names of the text inputs and textareas of the form on `url` that posts back to it."""
    return list(text_fields_with_limits(client, url))


def text_fields_with_limits(client, url: str) -> dict[str, int | None]:
    """The form on `url` that posts back to it: each text field's name and the length limit its
    character count shows (templates/_macros.html), None for a field without one."""
    response = client.get(url)
    if response.status_code != 200:
        return {}
    for action, inner in FORM_RE.findall(response.get_data(as_text=True)):
        if urlsplit(html.unescape(action)).path in ("", urlsplit(url).path):
            limits = {field_id: int(limit.replace(",", "")) for field_id, limit in LIMIT_RE.findall(inner)}
            fields = {}
            for tag in TEXT_INPUT.finditer(inner):
                name = tag.group(1) or tag.group(2)
                field_id = re.search(r'\bid="([^"]+)"', tag.group(0))
                if not re.search(r"-(day|month|year|time)$", name) and name != "q":
                    fields[name] = limits.get(field_id.group(1) if field_id else name)
            return fields
    return {}
