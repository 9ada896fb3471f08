"""Call-for-evidence and pledge rules without HTTP: deadlines (Europe/London, across clock changes),
the survey flow, survey submission and results, upload checks, written evidence, publication and
review, staff search, council pledges, and what a member's export and account deletion cover."""
import io
import os
import re
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage

from kil_network.auth.models import MemberType
from kil_network.core.models import AuditLog, OutboxEmail
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import london_to_utc, utcnow
from kil_network.councils import services as councils
from kil_network.councils.models import Pledge, PledgeStatus, SignedBy
from kil_network.evidence import services, survey, uploads
from kil_network.evidence.models import (
    Call,
    Publication,
    ReviewStatus,
    Submission,
    SubmissionTag,
    SubmissionTopic,
    SurveyResponse,
)
from kil_network.extensions import db
from kil_network.members import services as member_services
from kil_network.members.models import LocalAuthority, Region
from kil_network.principles.models import Principle
from tests.support.db import count

REFERENCE_S = re.compile(r"^KIL-S-[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{6}$")
REFERENCE_E = re.compile(r"^KIL-E-[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{6}$")
NEXT_YEAR = utcnow().year + 1
BRISTOL, LEEDS, CARDIFF, HACKNEY = "E06000023", "E08000035", "W06000015", "E09000012"


# --- Helpers ------------------------------------------------------------------------------

def minimal_pdf() -> bytes:
    """A real, minimal one-page PDF."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def minimal_docx() -> bytes:
    """A Word document built the way Word lays one out (content types, rels, document)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                   '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                   'wordprocessingml.document.main+xml"/></Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
                   '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
                   '2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
        z.writestr("word/document.xml", '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
                   'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Evidence</w:t></w:r></w:p></w:body></w:document>')
    return buf.getvalue()


def minimal_odt() -> bytes:
    """An OpenDocument text file: the uncompressed mimetype entry first, then content and manifest."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text", zipfile.ZIP_STORED)
        z.writestr("content.xml", '<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:'
                   'opendocument:xmlns:office:1.0"><office:body><office:text/></office:body></office:document-content>',
                   zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml",
                   '<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
                   'opendocument:xmlns:manifest:1.0"/>', zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def plain_zip() -> bytes:
    """An ordinary ZIP archive (not a document)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    return buf.getvalue()


EXECUTABLE = (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48
              + b"This program cannot be run in DOS mode.")


def upload(data: bytes, filename: str = "evidence.pdf") -> FileStorage:
    """An uploaded file as Flask hands it to a view."""
    return FileStorage(io.BytesIO(data), filename=filename, content_type="application/pdf")


def la(gss: str) -> LocalAuthority:
    """A local authority by GSS code."""
    return db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == gss))


def region_id(name: str) -> int:
    """A region's id by name."""
    return db.session.scalar(sa.select(Region.id).where(Region.name == name))


def friday_after_last_sunday(year: int, month: int) -> date:
    """The Friday after the last Sunday of the month (when the clocks change in the UK)."""
    last = date(year, month + 1, 1) - timedelta(days=1)
    sunday = last - timedelta(days=(last.weekday() - 6) % 7)
    return sunday + timedelta(days=5)


def complete_answers(region: str, **overrides) -> dict:
    """A full, in-scope set of answers for a community organisation delivering contracts."""
    answers = {"delivers": "yes", "council_role": "neither", "contract_size": "under_100k", "contract_length": "1_3",
               "barriers": ["size", "timescales"], "large_contracts": "A prime contractor took the work.",
               "what_would_help": "Grants.", "region": region}
    answers.update(overrides)
    return answers


@pytest.fixture
def make_call(app):
    """Create a call (open now by default: survey and written evidence) and commit."""

    def factory(title="Keep it Local call", *, opens=timedelta(days=-1), survey=timedelta(days=10),
                written=timedelta(days=20)):
        now = utcnow()
        call = Call(title=title, introduction="Tell us.", asks="Evidence.", opens_at=now + opens,
                    survey_closes_at=now + survey if survey is not None else None,
                    written_closes_at=now + written if written is not None else None)
        db.session.add(call)
        db.session.commit()
        return call

    return factory


@pytest.fixture
def staff(make_user):
    """A member of staff who reviews evidence and pledges."""
    return make_user(email="staff@example.org", name="Sam Staff", role="staff")


def evidence(call, **overrides) -> Submission:
    """Submit written evidence through the service and commit."""
    data = {"name": "Ada Lovelace", "email": "ada@example.org", "organisation": "Riverside Community Trust",
            "respondent_type": MemberType.COMMUNITY_ORGANISATION, "local_authority": None, "topics": ["trends"],
            "text": "Our contract was re-tendered at ten times the size.", "publication": Publication.NAMED}
    status = overrides.pop("status", None)
    data.update(overrides)
    submission = services.submit_evidence(call, **data)
    if status is not None:
        submission.status = status
    db.session.commit()
    return submission


# --- Deadlines ----------------------------------------------------------------------------

@pytest.mark.parametrize("part", ["survey", "written"])
def test_check_open_just_before_and_just_after_each_deadline(make_call, part):
    """One second before a part's deadline it is open; at and after the deadline it is refused."""
    call = make_call(survey=timedelta(days=3), written=timedelta(days=17))
    deadline = call.survey_closes_at if part == "survey" else call.written_closes_at
    services.check_open(call, part, now=deadline - timedelta(seconds=1))
    for moment in (deadline, deadline + timedelta(seconds=1), deadline + timedelta(days=1)):
        with pytest.raises(RuleError) as info:
            services.check_open(call, part, now=moment)
        assert info.value.message == "The deadline for responses has now passed"


def test_the_two_parts_have_their_own_deadlines(make_call):
    """Between the survey deadline and the written deadline only written evidence is accepted."""
    call = make_call(survey=timedelta(days=3), written=timedelta(days=17))
    between = call.survey_closes_at + timedelta(days=1)
    services.check_open(call, "written", now=between)
    with pytest.raises(RuleError, match="deadline for responses has now passed"):
        services.check_open(call, "survey", now=between)
    assert call.survey_state(between) == "closed" and call.written_state(between) == "open"


def test_a_call_without_a_survey_refuses_survey_responses(make_call):
    """A call with only written evidence has no survey to respond to."""
    call = make_call(survey=None)
    services.check_open(call, "written")
    with pytest.raises(RuleError, match="does not have that part"):
        services.check_open(call, "survey")


@pytest.mark.parametrize("month, utc_hour", [(3, 22), (10, 23)], ids=["BST", "GMT"])
def test_deadline_across_a_clock_change_is_london_time(app, month, utc_hour):
    """23:59 London on the Friday after the clocks change: a minute before is accepted, a minute after refused."""
    friday = friday_after_last_sunday(NEXT_YEAR, month)
    deadline = london_to_utc(datetime(friday.year, friday.month, friday.day, 23, 59))
    assert (deadline.hour, deadline.minute) == (utc_hour, 59)  # BST is UTC+1, GMT is UTC+0
    call = Call(title="Clock change", introduction="Tell us.", opens_at=deadline - timedelta(days=30),
                survey_closes_at=deadline, written_closes_at=deadline)
    db.session.add(call)
    db.session.commit()
    db.session.expire_all()
    call = db.session.get(Call, call.id)  # read back from the database, stored as UTC
    assert call.survey_closes_at == deadline
    for part in ("survey", "written"):
        services.check_open(call, part, now=deadline - timedelta(minutes=1))
        with pytest.raises(RuleError, match="deadline for responses has now passed"):
            services.check_open(call, part, now=deadline + timedelta(minutes=1))
    # The same wall-clock minute read as UTC would be wrong by the offset in summer.
    naive_utc = datetime(friday.year, friday.month, friday.day, 23, 58, tzinfo=UTC)
    if month == 3:
        with pytest.raises(RuleError):
            services.check_open(call, "survey", now=naive_utc)
    else:
        services.check_open(call, "survey", now=naive_utc)


def test_forthcoming_call_refuses_until_it_opens(make_call):
    """Before the opening time the call is forthcoming and says when it opens; at the opening it is open."""
    call = make_call(opens=timedelta(days=5), survey=timedelta(days=20), written=timedelta(days=30))
    with pytest.raises(RuleError, match="This call opens on"):
        services.check_open(call, "survey")
    with pytest.raises(RuleError, match="This call opens on"):
        services.check_open(call, "written", now=call.opens_at - timedelta(seconds=1))
    services.check_open(call, "written", now=call.opens_at)
    assert call.state == "forthcoming"


def test_call_part_predicates_follow_each_part_s_state(make_call):
    """What the call pages ask (survey_open, written_closed, ...) instead of comparing state strings."""
    call = make_call(survey=timedelta(days=-1), written=timedelta(days=5))
    assert (call.survey_open, call.survey_forthcoming, call.survey_closed) == (False, False, True)
    assert (call.written_open, call.written_forthcoming, call.written_closed) == (True, False, False)
    coming = make_call(opens=timedelta(days=3), written=None)
    assert coming.survey_forthcoming and not coming.survey_open
    assert not (coming.written_open or coming.written_forthcoming or coming.written_closed)  # no written part


def test_calls_by_state_groups_open_forthcoming_and_closed(make_call):
    """Each call is listed under its state; a call is open while any part is open."""
    make_call("Open one")
    make_call("Written still open", survey=timedelta(days=-1), written=timedelta(days=5))
    make_call("Coming", opens=timedelta(days=3), survey=timedelta(days=10))
    make_call("Over", opens=timedelta(days=-30), survey=timedelta(days=-10), written=timedelta(days=-2))
    groups = services.calls_by_state()
    titles = {state: {c.title for c in calls} for state, calls in groups.items()}
    assert titles == {"open": {"Open one", "Written still open"}, "forthcoming": {"Coming"}, "closed": {"Over"}}


# --- Staff: calls (the deadline rules live in the service, not the form) ------------------------

CALL = {"title": "A call", "introduction": "Tell us.", "asks": ""}


@pytest.mark.parametrize("survey_after, written_after, field, message", [
    (timedelta(0), timedelta(days=5), "survey_closes_at", "The survey deadline must be after the call opens"),
    (timedelta(days=5), -timedelta(hours=1), "written_closes_at",
     "The written evidence deadline must be after the call opens"),
    (None, None, "survey_closes_at", "Give a deadline for the survey, the written evidence, or both"),
], ids=["survey-at-opening", "written-before-opening", "no-deadline"])
def test_create_and_update_call_refuse_bad_deadlines(make_call, staff, survey_after, written_after, field, message):
    """create_call and update_call themselves refuse a deadline before the opening or no deadline at all."""
    opens = utcnow() + timedelta(days=1)
    dates = {"opens_at": opens, "survey_closes_at": opens + survey_after if survey_after is not None else None,
             "written_closes_at": opens + written_after if written_after is not None else None}
    with pytest.raises(RuleError) as info:
        services.create_call(staff, **CALL, **dates)
    assert (info.value.field, info.value.message) == (field, message)
    db.session.rollback()
    assert count(Call) == 0
    call = make_call("Unchanged")
    with pytest.raises(RuleError) as info:
        services.update_call(staff, call, **{**CALL, "title": "Changed"}, **dates)
    assert (info.value.field, info.value.message) == (field, message)
    db.session.rollback()
    assert db.session.get(Call, call.id).title == "Unchanged"
    assert count(AuditLog, AuditLog.action.in_(["call.create", "call.update"])) == 0


def test_create_and_update_call_are_audited(staff):
    """A call made and edited through the services, each with its audit entry."""
    opens = utcnow() + timedelta(days=1)
    call = services.create_call(staff, **CALL, opens_at=opens, survey_closes_at=opens + timedelta(days=9),
                                written_closes_at=None)
    services.update_call(staff, call, **{**CALL, "title": "Renamed"}, opens_at=opens, survey_closes_at=None,
                         written_closes_at=opens + timedelta(days=3))
    db.session.commit()
    assert (call.title, call.survey_closes_at, call.written_closes_at) == ("Renamed", None, opens + timedelta(days=3))
    actions = db.session.scalars(sa.select(AuditLog.action).where(AuditLog.target_id == call.id)
                                 .order_by(AuditLog.id)).all()
    assert actions == ["call.create", "call.update"]


def test_closed_reason_gives_each_part_its_own_words(make_call):
    """What the survey and written-evidence pages say when their part takes no responses."""
    call = make_call(opens=timedelta(days=2), survey=timedelta(days=5), written=timedelta(days=9))
    assert services.closed_reason(call, "survey") == "This survey is not open yet."
    assert services.closed_reason(call, "written") == "Written evidence is not open yet."
    assert services.closed_reason(call, "survey", now=call.opens_at) is None
    assert services.closed_reason(call, "survey", now=call.survey_closes_at) == services.DEADLINE_PASSED
    assert services.closed_reason(call, "written", now=call.survey_closes_at) is None


def test_answer_question_refuses_after_the_survey_deadline(make_call):
    """A survey answer is refused by the service itself once the survey's deadline has passed."""
    call = make_call(survey=timedelta(days=3), written=timedelta(days=17))
    question = survey.BY_ID["delivers"]
    answers = services.answer_question(call, question, ["yes"], {}, [],
                                       now=call.survey_closes_at - timedelta(seconds=1))
    assert answers == {"delivers": "yes"}
    with pytest.raises(RuleError, match="deadline for responses has now passed"):
        services.answer_question(call, question, ["yes"], {}, [], now=call.survey_closes_at)
    forthcoming = make_call(opens=timedelta(days=2))
    with pytest.raises(RuleError, match="This survey is not open yet"):
        services.answer_question(forthcoming, question, ["yes"], {}, [])


def test_answer_question_checks_the_answer_and_that_the_question_applies(make_call):
    """A bad answer is refused with the question's message; a question the answers skip is refused."""
    call = make_call()
    with pytest.raises(RuleError, match="Select an option") as info:
        services.answer_question(call, survey.BY_ID["delivers"], ["maybe"], {}, [])
    assert info.value.field == "answer"
    with pytest.raises(RuleError, match="does not apply"):
        services.answer_question(call, survey.BY_ID["contract_size"], ["under_100k"], {"delivers": "no"}, [])


def test_after_answer_goes_to_the_next_question_the_check_page_or_not_for_you():
    """The survey's navigation after each answer."""
    answers = {"delivers": "yes"}
    assert services.after_answer(survey.BY_ID["delivers"], answers, changing=False).id == "council_role"
    out = {"delivers": "no", "delivered_before": "no", "would_like": "no", "council_role": "neither"}
    assert services.after_answer(survey.BY_ID["council_role"], out, changing=False) == "not_for_you"
    full = complete_answers("1")
    assert services.after_answer(survey.BY_ID["region"], full, changing=False) == "check"
    assert services.after_answer(survey.BY_ID["delivers"], full, changing=True) == "check"
    missing = {k: v for k, v in full.items() if k != "barriers"}
    assert services.after_answer(survey.BY_ID["delivers"], missing, changing=True).id == "barriers"


# --- The survey flow (pure functions) -----------------------------------------------------------

def ids(questions) -> list[str]:
    """Question ids."""
    return [q.id for q in questions]


def test_visible_questions_follow_the_screening_answers():
    """Only the questions that apply to the answers so far are shown, in order."""
    assert ids(survey.visible({})) == ["delivers", "council_role"]
    assert ids(survey.visible({"delivers": "yes", "council_role": "neither"})) == [
        "delivers", "council_role", "contract_size", "contract_length", "barriers", "large_contracts",
        "what_would_help", "region"]
    assert ids(survey.visible({"delivers": "no", "delivered_before": "yes", "council_role": "neither"})) == [
        "delivers", "delivered_before", "council_role", "why_stopped", "barriers", "large_contracts",
        "what_would_help", "region"]
    assert ids(survey.visible({"delivers": "no", "delivered_before": "no", "would_like": "no",
                               "council_role": "councillor"})) == [
        "delivers", "delivered_before", "would_like", "council_role", "commissioning_practice",
        "what_would_help", "region"]


def test_next_after_and_previous_before_skip_questions_that_do_not_apply():
    """The next page and the back link jump over questions the answers rule out."""
    assert survey.next_after("delivers", {"delivers": "yes"}).id == "council_role"
    assert survey.next_after("delivers", {"delivers": "no"}).id == "delivered_before"
    answers = {"delivers": "yes", "council_role": "neither"}
    assert survey.next_after("council_role", answers).id == "contract_size"
    assert survey.next_after("contract_length", answers).id == "barriers"
    assert survey.next_after("region", answers) is None
    assert survey.next_after("council_role", {"delivers": "no", "delivered_before": "no", "would_like": "no",
                                              "council_role": "neither"}) is None
    assert survey.previous_before("delivers", {}) is None
    assert survey.previous_before("council_role", {"delivers": "yes"}).id == "delivers"
    assert survey.previous_before("council_role", {"delivers": "no", "delivered_before": "no"}).id == "would_like"
    assert survey.previous_before("barriers", {"delivers": "no", "delivered_before": "yes",
                                               "council_role": "neither"}).id == "why_stopped"
    assert survey.previous_before("what_would_help", {"delivers": "no", "delivered_before": "no", "would_like": "no",
                                                      "council_role": "commissioning"}).id == "commissioning_practice"


def test_clean_drops_answers_that_no_longer_apply_when_a_screening_answer_changes():
    """Changing 'delivers' from yes to no drops the contract questions; their follow-ups go too."""
    answers = complete_answers("3")
    assert survey.clean(answers) == answers
    changed = survey.clean({**answers, "delivers": "no"})
    assert "contract_size" not in changed and "contract_length" not in changed
    assert "barriers" not in changed and "region" not in changed  # out of scope until the next screening answer
    assert changed == {"delivers": "no", "council_role": "neither"}
    kept = survey.clean({**answers, "delivers": "no", "delivered_before": "yes"})
    assert "contract_size" not in kept and kept["barriers"] == ["size", "timescales"] and kept["region"] == "3"
    assert survey.first_unanswered(kept).id == "why_stopped"


def test_in_scope_and_respondent_type():
    """Any 'yes' screening answer is in scope; the respondent type follows the answers (council role first)."""
    cases = [
        ({"delivers": "yes", "council_role": "neither"}, True, "delivers_contracts"),
        ({"delivers": "no", "delivered_before": "yes", "council_role": "neither"}, True, "delivered_before"),
        ({"delivers": "no", "delivered_before": "no", "would_like": "yes", "council_role": "neither"}, True,
         "would_like_to"),
        ({"delivers": "no", "delivered_before": "no", "would_like": "no", "council_role": "commissioning"}, True,
         "commissioner"),
        ({"delivers": "yes", "council_role": "councillor"}, True, "councillor"),
        ({"delivers": "no", "delivered_before": "no", "would_like": "no", "council_role": "neither"}, False,
         "out_of_scope"),
        # A stale 'would_like' after 'delivers' became yes does not count as would-like.
        ({"delivers": "no", "delivered_before": "yes", "would_like": "yes", "council_role": "neither"}, True,
         "delivered_before"),
    ]
    for answers, scope, rtype in cases:
        assert survey.in_scope(answers) is scope, answers
        assert survey.respondent_type(answers) == rtype, answers


REGIONS = [("1", "London"), ("2", "Wales")]


def test_check_answer_radio():
    """A listed option is accepted; anything else, or nothing, is 'Select an option'."""
    q = survey.BY_ID["delivers"]
    assert survey.check_answer(q, ["yes"], REGIONS) == ("yes", None)
    assert survey.check_answer(q, [" no "], REGIONS) == ("no", None)
    assert survey.check_answer(q, ["maybe"], REGIONS) == (None, "Select an option")
    assert survey.check_answer(q, [], REGIONS) == (None, "Select an option")


def test_check_answer_checkbox_including_none_of_these():
    """Listed options are kept (unknown ones dropped); 'None of these' only on its own."""
    q = survey.BY_ID["barriers"]
    assert survey.check_answer(q, ["size", "price"], REGIONS) == (["size", "price"], None)
    assert survey.check_answer(q, ["size", "smuggled"], REGIONS) == (["size"], None)
    assert survey.check_answer(q, ["none"], REGIONS) == (["none"], None)
    value, error = survey.check_answer(q, ["none", "size"], REGIONS)
    assert value is None and error == "Select ‘None of these’ on its own, or the barriers you met"
    assert survey.check_answer(q, [], REGIONS) == (None, "Select at least one option")
    assert survey.check_answer(q, ["smuggled"], REGIONS) == (None, "Select at least one option")


def test_check_answer_text_required_and_optional():
    """A required text answer cannot be empty; an optional one can; a long answer is refused, never cut
    (issue 12: 3,500 characters were cut to 3,000 without a word)."""
    required, optional = survey.BY_ID["why_stopped"], survey.BY_ID["large_contracts"]
    assert survey.check_answer(required, ["   "], REGIONS) == (None, "Enter your answer")
    assert survey.check_answer(required, [" Re-tendered. "], REGIONS) == ("Re-tendered.", None)
    assert survey.check_answer(optional, [""], REGIONS) == ("", None)
    assert survey.check_answer(optional, ["x" * 5000], REGIONS) == (
        None, "Your answer must be 3,000 characters or fewer (it has 5,000)")
    assert survey.check_answer(optional, ["x" * 3000], REGIONS) == ("x" * 3000, None)


def test_check_answer_select_takes_only_a_listed_region():
    """The region must be one of the choices given."""
    q = survey.BY_ID["region"]
    assert survey.check_answer(q, ["2"], REGIONS) == ("2", None)
    assert survey.check_answer(q, ["99"], REGIONS) == (None, "Select your region")
    assert survey.check_answer(q, [""], REGIONS) == (None, "Select your region")


# --- Submitting the survey --------------------------------------------------------------------

def test_submit_survey_refuses_incomplete_answers(make_call):
    """A response missing an applicable question is refused and nothing is stored."""
    call = make_call()
    answers = complete_answers(str(region_id("London")))
    del answers["contract_length"]
    with pytest.raises(RuleError, match="Answer every question"):
        services.submit_survey(call, answers)
    db.session.rollback()
    assert count(SurveyResponse) == 0


def test_submit_survey_refuses_out_of_scope_answers(make_call):
    """Someone who said no to every screening question cannot submit."""
    call = make_call()
    answers = {"delivers": "no", "delivered_before": "no", "would_like": "no", "council_role": "neither"}
    with pytest.raises(RuleError, match="This survey is for community organisations"):
        services.submit_survey(call, answers)
    db.session.rollback()
    assert count(SurveyResponse) == 0


def test_submit_survey_after_the_deadline_is_refused(make_call):
    """At the deadline the survey takes nothing, however complete the answers."""
    call = make_call(survey=timedelta(days=2))
    with pytest.raises(RuleError, match="deadline for responses has now passed"):
        services.submit_survey(call, complete_answers(str(region_id("London"))), now=call.survey_closes_at)
    db.session.rollback()
    assert count(SurveyResponse) == 0


def test_submit_survey_stores_cleaned_answers_with_a_reference(make_call):
    """An anonymous response gets a KIL-S reference, its type and region; stale answers are dropped."""
    call = make_call()
    wales = region_id("Wales")
    answers = complete_answers(str(wales), why_stopped="Left over from an earlier answer")
    response = services.submit_survey(call, answers)
    db.session.commit()
    assert REFERENCE_S.match(response.reference)
    stored = db.session.get(SurveyResponse, response.id)
    assert stored.status == "submitted" and stored.user_id is None and stored.submitted_at is not None
    assert stored.respondent_type == "delivers_contracts" and stored.region_id == wales
    assert "why_stopped" not in stored.answers and stored.answers["barriers"] == ["size", "timescales"]
    other = services.submit_survey(call, answers)
    assert other.reference != response.reference


def test_member_draft_is_reused_and_becomes_the_submitted_response(make_call, make_user):
    """A member's saved answers are one row, which becomes the submitted response (no second row)."""
    call = make_call()
    member = make_user(email="ada@example.org")
    services.save_member_answers(call, member, {"delivers": "yes"})
    db.session.commit()
    draft = services.member_draft(call, member)
    assert draft.status == "in_progress" and draft.answers == {"delivers": "yes"} and draft.reference is None
    services.save_member_answers(call, member, {"delivers": "yes", "council_role": "neither"})
    db.session.commit()
    assert count(SurveyResponse) == 1
    response = services.submit_survey(call, complete_answers(str(region_id("London"))), user=member)
    db.session.commit()
    assert response.id == draft.id and count(SurveyResponse) == 1
    assert response.status == "submitted" and response.user_id == member.id and REFERENCE_S.match(response.reference)
    assert services.member_draft(call, member) is None


def test_survey_results_counts_and_filters(make_call):
    """Counts per option over submitted responses of this call only, narrowed by respondent type and region."""
    call, other_call = make_call(), make_call("Other")
    london, wales = str(region_id("London")), str(region_id("Wales"))
    services.submit_survey(call, complete_answers(london))
    services.submit_survey(call, complete_answers(wales, barriers=["size"]))
    councillor = {"delivers": "no", "delivered_before": "no", "would_like": "no", "council_role": "councillor",
                  "commissioning_practice": "large", "what_would_help": "", "region": wales}
    services.submit_survey(call, councillor)
    services.submit_survey(other_call, complete_answers(london))
    db.session.add(SurveyResponse(call_id=call.id, status="in_progress", answers={"delivers": "yes"}))
    db.session.commit()

    everything = services.survey_results(call)
    assert everything["total"] == 3
    r = everything["results"]
    assert r["delivers"]["counts"] == {"yes": 2, "no": 1} and r["delivers"]["count"] == 3
    assert r["barriers"]["counts"] == {"size": 2, "timescales": 1} and r["barriers"]["count"] == 2
    assert r["region"]["counts"] == {london: 1, wales: 2}
    assert r["commissioning_practice"]["counts"] == {"large": 1}
    assert r["large_contracts"]["count"] == 2 and r["what_would_help"]["count"] == 2  # empty text not counted

    councillors = services.survey_results(call, respondent_type="councillor")
    assert councillors["total"] == 1 and councillors["results"]["delivers"]["counts"] == {"no": 1}
    in_wales = services.survey_results(call, region=wales)
    assert in_wales["total"] == 2 and in_wales["results"]["barriers"]["counts"] == {"size": 1}
    both = services.survey_results(call, respondent_type="delivers_contracts", region=london)
    assert both["total"] == 1
    assert services.survey_results(call, region="not-a-number")["total"] == 3


def test_survey_csv_has_a_row_per_submitted_response_and_neutralises_formulas(make_call):
    """The export lists each response once, joins checkbox answers and defuses spreadsheet formulas."""
    call = make_call()
    services.submit_survey(call, complete_answers("1", what_would_help="=HYPERLINK(\"http://x\")"))
    db.session.commit()
    lines = services.survey_csv(call).splitlines()
    assert len(lines) == 2 and lines[0].startswith("reference,submitted_at,respondent_type,delivers")
    assert "size;timescales" in lines[1] and "'=HYPERLINK" in lines[1]


# --- Upload checks --------------------------------------------------------------------------

@pytest.mark.parametrize("maker, kind", [(minimal_pdf, "pdf"), (minimal_docx, "docx"), (minimal_odt, "odt")])
def test_real_documents_are_accepted_by_content(maker, kind):
    """A real PDF, DOCX and ODT are recognised from their bytes, whatever the file is called."""
    data = maker()
    assert uploads.detect_kind(data) == kind
    assert uploads.check_upload(upload(data, "whatever.bin")) == (data, kind)


@pytest.mark.parametrize("data, message", [
    (EXECUTABLE, "must be a PDF, DOCX or ODT"),
    (b"#!/bin/sh\nrm -rf /\n", "must be a PDF, DOCX or ODT"),
    (b"Just some text pretending to be a PDF", "must be a PDF, DOCX or ODT"),
    (None, "must be a PDF, DOCX or ODT"),  # a plain ZIP archive
    (b"PK\x03\x04 not really a zip", "must be a PDF, DOCX or ODT"),
    (b"", "The selected file is empty"),
], ids=["executable", "script", "text", "zip", "broken-zip", "empty"])
def test_disguised_or_empty_files_named_pdf_are_refused(data, message):
    """An executable, a script, text or an archive renamed .pdf is refused, as is an empty file."""
    data = plain_zip() if data is None else data
    with pytest.raises(uploads.UploadError, match=message):
        uploads.check_upload(upload(data, "report.pdf"))


def test_size_limit_is_ten_megabytes():
    """Exactly 10MB is accepted; one byte more is refused."""
    limit = 10 * 1024 * 1024
    body = minimal_pdf()
    exact = body + b" " * (limit - len(body))
    assert uploads.check_upload(upload(exact))[1] == "pdf"
    with pytest.raises(uploads.UploadError, match="smaller than 10MB"):
        uploads.check_upload(upload(exact + b" "))


@pytest.mark.parametrize("data", [EXECUTABLE, b"", None], ids=["executable", "empty", "too-big"])
def test_refused_upload_stores_nothing(make_call, uploads_dir, data):
    """A refused file leaves no submission row, no topic rows, no email and no file on disk."""
    call = make_call()
    if data is None:
        data = minimal_pdf() + b"0" * (10 * 1024 * 1024)
    with pytest.raises(RuleError) as info:
        services.submit_evidence(
            call, name="Ada", email="ada@example.org", organisation="", respondent_type=MemberType.ACADEMIC,
            local_authority=None, topics=["trends"], text="Evidence.", publication=Publication.NAMED,
            upload=upload(data, "evidence.pdf"))
    db.session.rollback()
    assert info.value.field == "file"
    assert count(Submission) == 0 and count(SubmissionTopic) == 0 and count(OutboxEmail) == 0
    assert not uploads_dir.exists() or list(uploads_dir.iterdir()) == []


# --- Written evidence -----------------------------------------------------------------------------

def test_topics_outside_the_list_are_dropped_and_none_left_is_refused(make_call, uploads_dir):
    """Unknown topics never reach the database; with no listed topic the submission is refused."""
    call = make_call()
    submission = evidence(call, topics=["scale_fail", "bogus", "scale_fail", "<script>"])
    assert submission.topics == ["scale_fail"]
    assert set(db.session.scalars(sa.select(SubmissionTopic.topic))) == {"scale_fail"}
    with pytest.raises(RuleError) as info:
        services.submit_evidence(call, name="B", email="b@example.org", organisation="",
                                 respondent_type=MemberType.OTHER, local_authority=None, topics=["bogus"],
                                 text="Evidence.", publication=Publication.PRIVATE)
    assert info.value.field == "topics"
    db.session.rollback()
    assert count(Submission) == 1


def test_empty_evidence_text_is_refused(make_call, uploads_dir):
    """Whitespace is not evidence: refused on the text field, nothing stored, even with a valid file."""
    call = make_call()
    with pytest.raises(RuleError) as info:
        services.submit_evidence(call, name="B", email="b@example.org", organisation="",
                                 respondent_type=MemberType.OTHER, local_authority=None, topics=["trends"],
                                 text=" \n\t ", publication=Publication.PRIVATE, upload=upload(minimal_pdf()))
    db.session.rollback()
    assert info.value.field == "text"
    assert count(Submission) == 0
    assert not uploads_dir.exists() or list(uploads_dir.iterdir()) == []


def test_written_evidence_after_the_deadline_is_refused(make_call, uploads_dir):
    """At the written deadline nothing is stored."""
    call = make_call(written=timedelta(days=2))
    with pytest.raises(RuleError, match="deadline for responses has now passed"):
        services.submit_evidence(call, name="B", email="b@example.org", organisation="",
                                 respondent_type=MemberType.OTHER, local_authority=None, topics=["trends"],
                                 text="Late.", publication=Publication.PRIVATE, now=call.written_closes_at)
    db.session.rollback()
    assert count(Submission) == 0


def test_acknowledgement_email_is_queued_with_the_reference(make_call, uploads_dir):
    """The submitter is emailed their reference, the topics and their publication choice."""
    call = make_call()
    submission = evidence(call, topics=["scale_fail", "community_role"], publication=Publication.ANONYMOUS,
                          email="ada@example.org")
    assert REFERENCE_E.match(submission.reference)
    [confirm] = db.session.scalars(sa.select(OutboxEmail)).all()  # an anonymous sender confirms the address first
    assert confirm.kind == "evidence_confirm" and submission.reference in confirm.body_text
    assert services.confirm_submission(submission) and not services.confirm_submission(submission)
    db.session.commit()
    mails = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == "evidence")).all()
    assert len(mails) == 1
    mail = mails[0]
    assert mail.to_address == "ada@example.org" and mail.kind == "evidence"
    assert submission.reference in mail.subject and submission.reference in mail.body_text
    assert "scale fail" in mail.body_text and "publish it anonymously" in mail.body_text
    assert call.title in mail.body_text


def test_file_is_saved_under_the_upload_folder_with_a_random_name(make_call, uploads_dir):
    """The document is written under UPLOAD_FOLDER under a random hex name, owner-only; the name given is kept apart."""
    call = make_call()
    data = minimal_docx()
    first = evidence(call, upload=upload(data, "../../etc/My evidence.docx"))
    second = evidence(call, upload=upload(data, "My evidence.docx"))
    assert re.fullmatch(r"[0-9a-f]{32}", first.file_key) and first.file_key != second.file_key
    stored = uploads_dir / first.file_key
    assert stored.read_bytes() == data and os.stat(stored).st_mode & 0o777 == 0o600
    assert sorted(p.name for p in uploads_dir.iterdir()) == sorted([first.file_key, second.file_key])
    assert first.file_kind == "docx" and first.file_size == len(data)
    assert first.file_name == "My evidence.docx" and "/" not in first.file_name
    assert uploads.path_for(first.file_key) == stored
    with pytest.raises(uploads.UploadError):
        uploads.path_for("../" + first.file_key)


# --- Publication, review and search -------------------------------------------------------------

def test_library_shows_only_reviewed_evidence_with_consent_to_publish(make_call, uploads_dir):
    """Reviewed named and anonymous submissions are listed; 'do not publish' and unreviewed never are."""
    call = make_call()
    reviewed = ReviewStatus.REVIEWED
    named = evidence(call, name="Nia Named", publication=Publication.NAMED, topics=["trends"], status=reviewed)
    anonymous = evidence(call, name="Ann Onymous", publication=Publication.ANONYMOUS, topics=["scale_fail"],
                         status=ReviewStatus.FEATURED)
    evidence(call, name="Pat Private", publication=Publication.PRIVATE, topics=["trends"], status=reviewed)
    evidence(call, name="Nat New", publication=Publication.NAMED, topics=["trends"])  # awaiting review
    listed = db.session.scalars(services.library()).all()
    assert {s.id for s in listed} == {named.id, anonymous.id}
    assert [s.id for s in db.session.scalars(services.library("trends"))] == [named.id]
    assert [s.id for s in db.session.scalars(services.library("scale_fail"))] == [anonymous.id]
    assert {s.id for s in db.session.scalars(services.library("bogus"))} == {named.id, anonymous.id}


def test_library_lists_featured_evidence_first_then_newest(make_call, uploads_dir, staff):
    """Featured submissions lead the library; the rest follow newest first."""
    call = make_call()
    oldest, featured, reviewed, newest = (evidence(call, name=f"Person {i}", status=ReviewStatus.REVIEWED)
                                          for i in range(4))
    services.review(staff, featured, status=ReviewStatus.FEATURED, tags=[], principle_ids=[], notes="")
    services.review(staff, reviewed, status=ReviewStatus.REVIEWED, tags=[], principle_ids=[], notes="")
    db.session.commit()
    assert [s.id for s in db.session.scalars(services.library())] == [featured.id, newest.id, reviewed.id, oldest.id]


def test_public_name_honours_the_choice_and_anonymous_never_shows_the_name(make_call, uploads_dir):
    """Named shows the name and organisation; anonymous shows 'Anonymous' only."""
    call = make_call()
    named = evidence(call, name="Nia Named", organisation="Eastgate Advice", publication=Publication.NAMED)
    no_org = evidence(call, name="Nia Alone", organisation="", publication=Publication.NAMED)
    anonymous = evidence(call, name="Ann Onymous", organisation="Secret Org", publication=Publication.ANONYMOUS)
    assert named.public_name == "Nia Named, Eastgate Advice"
    assert no_org.public_name == "Nia Alone"
    assert anonymous.public_name == "Anonymous"
    assert "Ann" not in anonymous.public_name and "Secret" not in anonymous.public_name


def test_review_sets_status_tags_principles_notes_and_audits(make_call, uploads_dir, staff):
    """Review saves the status, clean tags, the principles supported and notes, and writes an audit row."""
    call = make_call()
    submission = evidence(call)
    principles = db.session.scalars(sa.select(Principle).order_by(Principle.number)).all()
    services.review(staff, submission, status=ReviewStatus.FEATURED, tags=[" Case Study", "data", "", "case study"],
                    principle_ids=[principles[2].id, principles[0].id], notes="Strong example.")
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Submission, submission.id)
    assert stored.status == ReviewStatus.FEATURED and stored.notes == "Strong example."
    assert stored.tags == ["case study", "data"]
    assert [p.number for p in stored.principles] == [1, 3]
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "evidence.review"))
    assert entry.actor_id == staff.id and entry.target_type == "submission" and entry.target_id == submission.id
    assert submission.reference in entry.summary and entry.details["tags"] == ["case study", "data"]
    services.review(staff, stored, status=ReviewStatus.REVIEWED, tags=[], principle_ids=[], notes="")
    db.session.commit()
    db.session.expire_all()
    again = db.session.get(Submission, submission.id)
    assert again.tags == [] and again.principles == [] and count(SubmissionTag) == 0
    assert count(AuditLog, AuditLog.action == "evidence.review") == 2


def test_staff_search_filters(make_call, uploads_dir, staff):
    """Free text, status, topic, tag and principle each narrow the queue; LIKE wildcards are literal."""
    call = make_call()
    p1 = db.session.scalar(sa.select(Principle).where(Principle.number == 1))
    a = evidence(call, name="Ada Lovelace", organisation="Riverside", topics=["trends"], text="Plain text.")
    b = evidence(call, name="Bob Babbage", organisation="100% Local", topics=["scale_fail"], text="A failed contract.")
    c = evidence(call, name="Cy Young", organisation="", topics=["scale_fail", "trends"], text="Contract notes.")
    services.review(staff, b, status=ReviewStatus.REVIEWED, tags=["Data"], principle_ids=[p1.id], notes="")
    db.session.commit()

    def found(**filters):
        return {s.id for s in db.session.scalars(services.staff_search(**filters))}

    assert found() == {a.id, b.id, c.id}
    assert found(q="lovelace") == {a.id}
    assert found(q="contract") == {b.id, c.id}
    assert found(q=c.reference) == {c.id}
    assert found(q="100%") == {b.id} and found(q="%") == {b.id} and found(q="_") == set()
    assert found(status="new") == {a.id, c.id} and found(status="reviewed") == {b.id}
    assert found(status="bogus") == {a.id, b.id, c.id}
    assert found(topic="scale_fail") == {b.id, c.id}
    assert found(tag="data") == {b.id} and found(tag="DATA") == {b.id} and found(tag="none") == set()
    assert found(principle=str(p1.id)) == {b.id}
    assert found(topic="trends", status="new", q="young") == {c.id}  # an O: never in a random reference
    assert [s.id for s in db.session.scalars(services.staff_search())] == [c.id, b.id, a.id]


def test_evidence_csv_lists_the_filtered_queue(make_call, uploads_dir):
    """The CSV holds the filtered rows with their topics and neutralised formulas."""
    call = make_call()
    evidence(call, name="=cmd()", topics=["trends", "scale_fail"])
    evidence(call, name="Other", topics=["community_role"])
    body = services.evidence_csv(services.staff_search(topic="trends"))
    lines = body.splitlines()
    assert len(lines) == 2 and lines[0].startswith("reference,received_at,name,email")
    assert "'=cmd()" in lines[1] and "scale_fail;trends" in lines[1] and "Other" not in body


# --- Council pledges --------------------------------------------------------------------------

def pledge(user, gss=BRISTOL, **overrides) -> Pledge:
    """Submit a pledge through the service and commit."""
    data = {"signed_by": SignedBy.LEADER_AND_CHIEF_EXECUTIVE, "signatories": "Cllr Jane Smith, Leader",
            "pledged_on": date(2025, 3, 27), "champions": "Cllr Sam Jones"}
    data.update(overrides)
    result = councils.submit_pledge(user, la(gss), **data)
    db.session.commit()
    return result


@pytest.mark.parametrize("member_type", ["councillor", "commissioner", "council_officer"])
def test_councillors_commissioners_and_officers_of_the_council_may_pledge(make_user, member_type):
    """A council's own councillor, commissioner or officer submits a pending pledge."""
    user = make_user(member_type=member_type, gss_code=BRISTOL)
    assert councils.pledge_error(user, la(BRISTOL)) is None
    result = pledge(user)
    assert result.status == PledgeStatus.PENDING and result.submitted_by_id == user.id
    assert result.local_authority.gss_code == BRISTOL


@pytest.mark.parametrize("member_type, gss, confirmed, message", [
    ("community_organisation", BRISTOL, True, "Only councillors, commissioners and council officers"),
    ("think_tank", BRISTOL, True, "Only councillors, commissioners and council officers"),
    ("councillor", LEEDS, True, "Only councillors, commissioners and council officers"),
    ("councillor", None, True, "Only councillors, commissioners and council officers"),
    ("councillor", BRISTOL, False, "Confirm your email address first"),
])
def test_others_may_not_pledge_for_the_council(make_user, member_type, gss, confirmed, message):
    """The wrong member type, another council's member or an unconfirmed member is refused; nothing stored."""
    user = make_user(member_type=member_type, gss_code=gss or BRISTOL, confirmed=confirmed)
    if gss is None:  # a councillor cannot join without a council (members.services): one whose council was cleared
        user.local_authority = None
        db.session.flush()
    assert message in councils.pledge_error(user, la(BRISTOL))
    with pytest.raises(RuleError, match=message):
        pledge(user)
    db.session.rollback()
    assert count(Pledge) == 0


def test_a_second_live_pledge_for_the_same_council_is_refused(make_user):
    """While one pledge is pending (or verified), another for the council is refused."""
    first = make_user(member_type="councillor", gss_code=BRISTOL)
    second = make_user(member_type="council_officer", gss_code=BRISTOL)
    pledge(first)
    assert "waiting for staff" in councils.pledge_error(second, la(BRISTOL))
    with pytest.raises(RuleError, match="waiting for staff"):
        pledge(second)
    db.session.rollback()
    assert count(Pledge) == 1


def test_the_partial_unique_index_refuses_a_second_live_pledge_in_the_database(make_user):
    """Bypassing the rules, the database itself refuses two live pledges for one council but allows rejected ones."""
    user = make_user(member_type="councillor", gss_code=BRISTOL)
    council = la(BRISTOL)

    def row(status):
        return Pledge(local_authority_id=council.id, submitted_by_id=user.id, signed_by=SignedBy.CABINET_DECISION,
                      signatories="Cabinet", pledged_on=date(2025, 1, 1), champions="X", status=status)

    db.session.add_all([row(PledgeStatus.REJECTED), row(PledgeStatus.REJECTED), row(PledgeStatus.PENDING)])
    db.session.commit()
    db.session.add(row(PledgeStatus.VERIFIED))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(row(PledgeStatus.PENDING))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert count(Pledge) == 3
    db.session.add(Pledge(local_authority_id=la(LEEDS).id, signed_by=SignedBy.CABINET_DECISION,  # another council
                          signatories="Cabinet", pledged_on=date(2025, 1, 1), champions="X"))
    db.session.commit()
    assert count(Pledge) == 4


def test_a_rejected_pledge_allows_a_new_one(make_user, staff):
    """Once staff reject a pledge the council's members can submit again."""
    user = make_user(member_type="councillor", gss_code=BRISTOL)
    rejected = pledge(user)
    councils.review_pledge(staff, rejected, PledgeStatus.REJECTED, "Could not confirm with the council.")
    db.session.commit()
    assert councils.pledge_error(user, la(BRISTOL)) is None
    again = pledge(user, signatories="Cllr Jane Smith, Leader; Sam Jones, Chief Executive")
    assert again.id != rejected.id and councils.live_pledge(la(BRISTOL)).id == again.id
    assert count(Pledge) == 2


def test_a_pledge_dated_in_the_future_is_refused(make_user):
    """The pledge date cannot be after today; today is fine."""
    user = make_user(member_type="councillor", gss_code=BRISTOL)
    with pytest.raises(RuleError) as info:
        pledge(user, pledged_on=utcnow().date() + timedelta(days=1))
    assert info.value.field == "pledged_on"
    db.session.rollback()
    assert count(Pledge) == 0
    assert pledge(user, pledged_on=utcnow().date()).pledged_on == utcnow().date()


@pytest.mark.parametrize("decision", [PledgeStatus.VERIFIED, PledgeStatus.REJECTED])
def test_staff_verify_or_reject_a_pledge_with_an_audit_row(make_user, staff, decision):
    """The decision, who made it and when are stored and audited; 'pending' is not a decision."""
    user = make_user(member_type="councillor", gss_code=BRISTOL)
    p = pledge(user)
    with pytest.raises(RuleError):
        councils.review_pledge(staff, p, PledgeStatus.PENDING)
    councils.review_pledge(staff, p, decision, "Checked with the chief executive's office.")
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Pledge, p.id)
    assert stored.status == decision and stored.verified_by_id == staff.id and stored.verified_at is not None
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == f"pledge.{decision.value}"))
    assert entry.actor_id == staff.id and entry.target_type == "pledge" and entry.target_id == p.id
    assert BRISTOL in entry.summary and entry.details["note"] == "Checked with the chief executive's office."


def test_pledged_by_region_counts_only_verified_pledges(make_user, staff):
    """Every region is listed with its verified pledges and its number of councils; pending ones are not counted."""
    verified = []
    for gss in (BRISTOL, LEEDS, CARDIFF):
        p = pledge(make_user(member_type="councillor", gss_code=gss), gss)
        councils.review_pledge(staff, p, PledgeStatus.VERIFIED)
        verified.append(p)
    pledge(make_user(member_type="councillor", gss_code=HACKNEY), HACKNEY)  # still pending
    db.session.commit()
    groups = {g["region"].name: g for g in councils.pledged_by_region()}
    assert len(groups) == count(Region)
    assert [p.local_authority.gss_code for p in groups["South West"]["pledges"]] == [BRISTOL]
    assert [p.local_authority.gss_code for p in groups["Wales"]["pledges"]] == [CARDIFF]
    assert [p.local_authority.gss_code for p in groups["Yorkshire and The Humber"]["pledges"]] == [LEEDS]
    assert groups["London"]["pledges"] == []
    assert sum(len(g["pledges"]) for g in groups.values()) == 3
    wales = region_id("Wales")
    assert groups["Wales"]["councils"] == count(LocalAuthority, LocalAuthority.region_id == wales) == 22


# --- Personal data: export and account deletion ---------------------------------------------------

def test_member_export_includes_survey_responses_submissions_and_pledges(make_call, uploads_dir, make_user):
    """The data download has the member's survey answers, written evidence and pledges."""
    call = make_call()
    member = make_user(email="cllr@example.org", member_type="councillor", gss_code=BRISTOL)
    response = services.submit_survey(call, complete_answers("1"), user=member)
    services.save_member_answers(make_call("Second"), member, {"delivers": "no"})
    submission = evidence(call, user=member, name="Cllr Ada", email="cllr@example.org")
    pledge(member)
    evidence(call, name="Someone Else")  # not theirs
    db.session.commit()
    data = member_services.export_member(member)
    assert [r["reference"] for r in data["survey_responses"]] == [response.reference, None]
    assert data["survey_responses"][0]["answers"]["barriers"] == ["size", "timescales"]
    assert [s["reference"] for s in data["evidence_submissions"]] == [submission.reference]
    assert data["evidence_submissions"][0]["text"] == submission.text
    assert data["pledges"] == [{"council": BRISTOL, "status": "pending", "signatories": "Cllr Jane Smith, Leader",
                                "pledged_on": "2025-03-27"}]


def test_account_deletion_unlinks_and_anonymises_evidence(make_call, uploads_dir, make_user):
    """Survey responses and pledges are unlinked, drafts removed; named published evidence stays, anonymously."""
    call = make_call()
    member = make_user(email="cllr@example.org", name="Cllr Ada", member_type="councillor", gss_code=BRISTOL)
    response = services.submit_survey(call, complete_answers("1"), user=member)
    services.save_member_answers(make_call("Second"), member, {"delivers": "yes"})
    named = evidence(call, user=member, name="Cllr Ada", email="cllr@example.org", organisation="Bristol City Council",
                     publication=Publication.NAMED, status=ReviewStatus.REVIEWED)
    private = evidence(call, user=member, name="Cllr Ada", email="cllr@example.org", publication=Publication.PRIVATE)
    other = evidence(call, name="Someone Else", email="else@example.org", publication=Publication.NAMED)
    p = pledge(member)
    db.session.commit()

    member_services.delete_account(member)
    db.session.commit()
    db.session.expire_all()

    assert count(SurveyResponse) == 1
    kept = db.session.get(SurveyResponse, response.id)
    assert kept.user_id is None and kept.status == "submitted" and kept.answers["delivers"] == "yes"
    stored = db.session.get(Submission, named.id)
    assert stored.publication == Publication.ANONYMOUS and stored.user_id is None
    assert "Ada" not in stored.name and stored.email == "" and stored.organisation == ""
    assert stored.public_name == "Anonymous"
    assert named.id in {s.id for s in db.session.scalars(services.library())}  # still published
    gone = db.session.get(Submission, private.id)
    assert gone.publication == Publication.PRIVATE and gone.email == ""
    assert db.session.get(Submission, other.id).name == "Someone Else"
    unlinked = db.session.get(Pledge, p.id)
    assert unlinked.submitted_by_id is None and unlinked.status == PledgeStatus.PENDING
    assert count(Submission, Submission.email.contains("cllr@")) == 0
