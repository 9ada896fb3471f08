"""The one search of the app (core.textsearch, members.search): folding, and the member search on
both databases (the directory, the staff members list, the check-in filter and the evidence library
search the same way). Issue 14.

Search on the database runs on SQLite and PostgreSQL (`both_databases`): the index is an FTS5
table on one and a tsvector with a GIN index on the other, and both must find the same members.
"""
import importlib.util
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from kil_network.auth.models import MemberType, Status, User
from kil_network.core import textsearch
from kil_network.core.timeutil import utcnow
from kil_network.evidence import services as evidence_services
from kil_network.evidence.models import Call, Publication, ReviewStatus
from kil_network.extensions import db
from kil_network.members import search, services
from kil_network.members.models import LocalAuthority
from kil_network.staff import services as staff_services
from kil_network.workshops import queries
from kil_network.workshops.services import register
from tests.support.emails import make_workshop

both = pytest.mark.both_databases
MIGRATION = Path(__file__).resolve().parents[1] / "migrations" / "versions" / "0018_member_search.py"
HOSTILE = ['"', '"unbalanced', "*", "smi*", "OR", "smith OR jones", "AND OR NOT", "NEAR(smith jones)", "-smith",
           "document:smith", "{document}:smith", "contact : x", "(", ")", "(smith", "^smith", "'", "\\", "smith:*",
           "a & b | !c", "<->", "smi:*A", "\x00", "smi\x00th", "x" * 500, "smith " * 100, "🎉", "e\u0301", "_", "%",
           "%%", "?", ";DROP TABLE member_search;--", "  ", "", "...", "''''", "NULL", "\u200b", "ﬁ"]


def names(stmt) -> list[str]:
    """The names a member search SELECT finds, in its order."""
    return [user.name for user in db.session.scalars(stmt).unique()]


def directory(q: str) -> list[str]:
    """Who the directory finds for `q`."""
    return names(services.member_search(q))


def staff_list(q: str) -> list[str]:
    """Who the staff members list finds for `q`."""
    return names(staff_services.staff_member_search(q))


def index_rows() -> dict[int, tuple[str, str]]:
    """The member index as stored: {member id: (document, contact)}."""
    key = "user_id" if db.engine.dialect.name == "postgresql" else "rowid"
    return {row[0]: (row[1], row[2]) for row in db.session.execute(
        sa.text(f"SELECT {key}, document, contact FROM member_search"))}


def council(gss_code: str) -> LocalAuthority:
    """The local authority with this GSS code."""
    return db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == gss_code))


# --- Folding (no database) ---------------------------------------------------------------------

@pytest.mark.parametrize("text, folded", [
    ("José", "jose"), ("ZOË", "zoe"), ("Zoë Ñúñez-García", "zoe nunez garcia"), ("Straße", "strasse"),
    ("Øster Æther Łódź Œuvre", "oster aether lodz oeuvre"), ("ﬁne ＡＢＣ ²", "fine abc 2"),
    ("O'Brien O’Neill", "obrien oneill"), ("İstanbul", "istanbul"), ("  lots\tof\n space  ", "lots of space"),
    ("a_b.c@d-e", "a b c d e"), ("smi\x00th", "smi th"), ("<script>alert(1)</script>", "script alert 1 script"),
    ("", ""), (None, ""), ("!!! ... ???", ""), ("e\u0301", "e"), ("Ǆemal", "dzemal"),
])
def test_fold(text, folded):
    """NFKD, combining marks dropped, case folded, ø/æ/ł spelt plainly, apostrophes joined, the rest a space."""
    assert textsearch.fold(text) == folded


def test_document_holds_apostrophe_words_whole_and_in_parts():
    """'O'Brien' is found as "obrien", "o'brien" and "brien"; each word once; empty parts skipped."""
    assert textsearch.document("Seán O'Brien", None, "", "Brien Trust") == "sean obrien o brien trust"


def test_query_words_are_bounded_and_only_letters_and_digits():
    """Operators, quotes, NUL and apostrophes separate; at most MAX_WORDS words of MAX_WORD characters."""
    assert textsearch.words('"Smith" OR near(x*) \x00 o\'brien') == ["smith", "or", "near", "x", "o", "brien"]
    assert len(textsearch.words("word " * 100)) == textsearch.MAX_WORDS
    assert textsearch.words("y" * 5000) == ["y" * textsearch.MAX_WORD]
    assert textsearch.words("*** ' \" ()") == []


def test_python_matcher_is_the_same_rule():
    """textsearch.matches (the check-in list) is the index's rule: every word starts a word, folded."""
    assert textsearch.matches(["jose", "gar"], "José García", "jg@example.org")
    assert textsearch.matches(["example"], "José García", "jg@example.org")
    assert not textsearch.matches(["osé"], "José García")  # the start of words only
    assert not textsearch.matches(["jose", "smith"], "José García")  # every word
    assert textsearch.matches([], "anyone")


def test_migration_folds_as_the_app_does():
    """0018's backfill has its own copy of the folding (migrations never import app code): the same."""
    spec = importlib.util.spec_from_file_location("migration_0018", MIGRATION)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    samples = ["José Ñúñez-O'Brien", "ZOË Øster Straße", "ﬁne Łódź İstanbul", "a_b.c@d-e", "Ǆemal \x00 🎉"]
    samples += [chr(c) for c in range(0xC0, 0x250)]
    for text in samples:
        assert migration.fold(text) == textsearch.fold(text)
        assert migration.document(text, "x'y") == textsearch.document(text, "x'y")


# --- The member search on the database ---------------------------------------------------------

@both
def test_prefix_accents_and_case(app, make_user):
    """As you type: "smi" finds Smith; "jose" finds José and "josé" Jose; "ZOË" finds Zoe; any case."""
    make_user(name="Anna Smith", organisation="", member_type="other")
    make_user(name="José Álvarez", organisation="", member_type="other")
    make_user(name="Jose Brown", organisation="", member_type="other")
    make_user(name="Zoe Ng", organisation="", member_type="other")
    make_user(name="Blacksmith Jones", organisation="", member_type="other")
    assert directory("smi") == ["Anna Smith"]  # the start of a word, not inside one
    assert directory("SMITH") == directory("smith") == ["Anna Smith"]
    assert directory("jose") == directory("josé") == directory("JOSÉ") == ["Jose Brown", "José Álvarez"]
    assert directory("alvarez") == ["José Álvarez"]
    assert directory("ZOË") == directory("zo") == ["Zoe Ng"]
    assert directory("s") == ["Anna Smith"]  # one letter: still the start of a word


@both
def test_organisation_and_council_words_and_several_words(app, make_user):
    """A word of the organisation's or the council's name finds the member; several words must all match."""
    make_user(name="Ann Lee", organisation="Harbour Youth Project", gss_code="E09000012")  # Hackney
    make_user(name="Bob Lee", organisation="Riverside Trust", gss_code="E06000023")  # Bristol
    make_user(name="Cat Roe", member_type="councillor", organisation="", gss_code="E09000012")
    assert directory("harbour") == ["Ann Lee"]
    assert directory("youth proj") == ["Ann Lee"]
    assert directory("hackney") == ["Ann Lee", "Cat Roe"]
    assert directory("lee hackney") == ["Ann Lee"]
    assert directory("lee hackney riverside") == []
    assert directory("bristol lee") == ["Bob Lee"]
    assert directory("trust bob") == ["Bob Lee"]


@both
@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_input_never_raises(app, make_user, q):
    """Quotes, operators, column filters, NUL, 500 characters, punctuation only: never an error; the
    answer is the members the query's words find; none when it holds no word (everyone when blank)."""
    make_user(name="Anna Smith", organisation="", member_type="other")
    make_user(name="Ben Jones", organisation="", member_type="other")
    found = directory(q)
    assert found in ([], ["Anna Smith"], ["Ben Jones"], ["Anna Smith", "Ben Jones"])
    if not textsearch.words(q):
        assert found == ([] if q.strip() else ["Anna Smith", "Ben Jones"])
    assert services.directory_page(q).total == len(found)
    assert staff_list(q) in ([], ["Anna Smith"], ["Ben Jones"], ["Anna Smith", "Ben Jones"])


@both
def test_the_directory_never_finds_unlisted_unconfirmed_suspended_or_erased(app, make_user):
    """The index holds everyone not deleted (staff search them), the directory finds only listed members;
    an erased member's row is gone from the index and nobody finds their old name."""
    make_user(name="Pat Listed", organisation="", member_type="other")
    make_user(name="Pat Unlisted", organisation="", member_type="other", show_in_directory=False)
    make_user(name="Pat Unconfirmed", organisation="", member_type="other", confirmed=False)
    suspended = make_user(name="Pat Suspended", organisation="", member_type="other")
    erased = make_user(name="Pat Erased", organisation="Erased Org", email="erased@example.org")
    suspended.status = Status.SUSPENDED
    services.delete_account(erased)
    db.session.commit()
    assert directory("pat") == ["Pat Listed"]
    assert staff_list("pat") == ["Pat Listed", "Pat Suspended", "Pat Unconfirmed", "Pat Unlisted"]
    assert erased.id not in index_rows()
    assert directory("erased") == staff_list("erased") == staff_list("former") == []


@both
def test_email_is_searched_by_staff_only(app, make_user):
    """The directory never matches an email address; staff find a member by its words."""
    make_user(name="Quiet Person", email="secret.handle@example.org", organisation="", member_type="other")
    assert directory("secret") == directory("secret.handle") == []
    assert staff_list("secret.handle") == staff_list("handle@example") == ["Quiet Person"]


@both
def test_the_index_follows_edits(app, make_user):
    """Profile edits (name, organisation, council), an organisation's rename and a confirmed new email
    address change what finds the member, at once."""
    user = make_user(name="Old Name", organisation="First Org", gss_code="E06000023")
    other = make_user(name="Other Member", organisation="First Org")
    services.update_profile(user, name="Nuñez New", member_type=MemberType.COMMUNITY_ORGANISATION,
                            organisation_name="Second Org", local_authority=council("E09000012"), region=None,
                            job_title="", involvement="", consent_marketing=False, show_in_directory=True)
    db.session.commit()
    assert directory("old") == [] and directory("nunez") == ["Nuñez New"]
    assert directory("second") == directory("hackney") == ["Nuñez New"]
    assert directory("first") == ["Other Member"] and directory("bristol") == ["Other Member"]
    org = other.organisation
    staff = make_user(name="Sam Staff", role="staff", organisation="", member_type="other")
    services.update_organisation(staff, org, name="Renamed Ørganisation", org_type=org.org_type,
                                 charity_number="", company_number="", local_authority=None)
    db.session.commit()
    assert directory("first") == [] and directory("renamed organisation") == ["Other Member"]
    user.email = "new.address@example.org"
    db.session.commit()
    assert staff_list("new.address") == ["Nuñez New"] and staff_list("member1") == []
    assert index_rows()[user.id] == ("nunez new second org hackney", "new address example org")


@both
def test_a_deleted_row_takes_its_index_row(app, make_user):
    """A users row deleted in SQL (not the ORM) takes its index row with it (trigger / ON DELETE CASCADE)."""
    user = make_user(name="Gone Soon", organisation="", member_type="other")
    assert user.id in index_rows()
    db.session.execute(sa.delete(User).where(User.id == user.id))
    db.session.commit()
    assert user.id not in index_rows()


@both
def test_bulk_index_and_rebuild_give_what_the_flushes_give(app, make_user):
    """Members inserted in bulk SQL are indexed by index_members in bulk; a rebuild gives the same rows
    as keeping in step did."""
    make_user(name="Élise Flush", organisation="Ørsted Trust", gss_code="E09000012")
    before = index_rows()
    last = db.session.scalar(sa.select(sa.func.max(User.id)))
    now = utcnow()
    db.session.execute(sa.insert(User), [
        {"email": f"bulk-search{i}@example.org", "name": f"Bülk Person{i}", "member_type": "other",
         "role": "member", "status": "active", "show_in_directory": True, "email_confirmed_at": now,
         "session_token": f"bulk-search-token-{i}", "created_at": now} for i in range(30)])
    assert directory("bulk") == []  # not yet indexed
    assert search.index_members(db.session.connection(), after_id=last) == 30
    db.session.commit()
    assert len(directory("bulk")) == 30 and directory("bulk person7") == ["Bülk Person7"]
    kept = index_rows()
    assert search.rebuild(db.session.connection()) == 31
    db.session.commit()
    assert index_rows() == kept and {k: v for k, v in kept.items() if k in before} == before


@both
def test_the_directory_search_follows_the_listing(app, make_user):
    """Opting out of the directory, suspension and confirming an address change what the directory's
    search finds (its page and total come from the index's listing), never what staff find."""
    user = make_user(name="Robin Hood", organisation="", member_type="other")
    later = make_user(name="Robin Later", organisation="", member_type="other", confirmed=False)
    assert [u.name for u in services.directory_page("robin").items] == ["Robin Hood"]
    user.show_in_directory = False
    db.session.commit()
    assert services.directory_page("robin").total == 0
    user.show_in_directory, user.status = True, Status.SUSPENDED
    db.session.commit()
    assert services.directory_page("robin").items == []
    user.status, later.email_confirmed_at = Status.ACTIVE, utcnow()
    db.session.commit()
    page = services.directory_page("robin")
    assert [u.name for u in page.items] == ["Robin Hood", "Robin Later"] and page.total == 2
    assert [u.name for u in services.search_page("robin", staff=True).items] == ["Robin Hood", "Robin Later"]


@both
def test_directory_page_counts_search_results(app, make_user):
    """The page's total counts the members the search finds (pagination over the index's matches)."""
    for i in range(25):
        make_user(name=f"Smith {i:02d}", organisation="", member_type="other")
    make_user(name="Jones", organisation="", member_type="other")
    page = services.directory_page(q="smi", per_page=10)
    assert page.total == 25 and page.pages == 3 and [u.name for u in page.items][:2] == ["Smith 00", "Smith 01"]
    last = services.directory_page(q="smi", page=3, per_page=10)
    assert [u.name for u in last.items] == [f"Smith {i}" for i in range(20, 25)]
    assert services.directory_page(q="smi", page=9, per_page=10).items == []
    assert services.directory_page(q="smi", member_type="other", per_page=10).total == 25  # with a filter
    assert services.directory_page(q="smi", member_type="councillor", per_page=10).total == 0


@both
def test_many_matches_are_counted_up_to_the_cap_and_paged_in_name_order(app, make_user, monkeypatch):
    """More matches than COUNT_CAP: the directory says "more than" (its count stops there) and still
    pages in name order (SQLite then walks the members' name index); staff get the exact total."""
    monkeypatch.setattr(search, "COUNT_CAP", 5)
    for i in (7, 3, 11, 0, 5, 9, 1, 10, 2, 8, 6, 4):
        make_user(name=f"Smith {i:02d}", organisation="", member_type="other")
    make_user(name="Smith Hidden", organisation="", member_type="other", show_in_directory=False)
    page = services.directory_page("smith", per_page=4)
    assert page.more and page.total == 5 and page.pages == 2
    assert [u.name for u in page.items] == ["Smith 00", "Smith 01", "Smith 02", "Smith 03"]
    assert [u.name for u in services.directory_page("smith", page=3, per_page=4).items] == [
        "Smith 08", "Smith 09", "Smith 10", "Smith 11"]
    staff = services.search_page("smith", staff=True, per_page=20)
    assert not staff.more and staff.total == 13 and staff.items[-1].name == "Smith Hidden"
    assert not services.directory_page("smith 1").more  # "11", "10", "01"... : 3 matches


# --- The other searches: the same folding ------------------------------------------------------

@both
def test_evidence_library_search_folds_accents(app):
    """The evidence library finds "José Øster" and "Straße" by their plain spelling and the other way round."""
    call = Call(title="Call", introduction="Tell us.", opens_at=utcnow() - timedelta(days=1),
                survey_closes_at=utcnow() + timedelta(days=1), written_closes_at=utcnow() + timedelta(days=1))
    db.session.add(call)
    db.session.commit()
    item = evidence_services.submit_evidence(
        call, upload=None, name="José Øster", email="jo@example.org", organisation="Straße Trust",
        respondent_type=MemberType.COMMUNITY_ORGANISATION, local_authority=None, topics=["trends"],
        text="The café closed; Łódź and Zoë were told.", publication=Publication.NAMED)
    item.status = ReviewStatus.REVIEWED
    db.session.commit()

    def found(q):
        return [s.id for s in db.session.scalars(evidence_services.library(q=q)).unique()]

    for q in ("jose oster", "JOSÉ ØSTER", "strasse", "straße", "cafe", "lodz", "zoe", "ZOË", "cafe lod"):
        assert found(q) == [item.id], q
    assert found("zoe smith") == []


def test_check_in_filter_uses_the_same_search(app, make_user):
    """The check-in list's filter folds accents and matches the start of words of name, email or organisation."""
    staff = make_user(name="Sam Staff", role="staff", organisation="", member_type="other")
    workshop = make_workshop(staff, capacity=5)
    for name, org in (("José Álvarez", "Café Collective"), ("Zoë Ng", "Harbour Trust")):
        register(workshop, make_user(name=name, organisation=org))
    db.session.commit()

    def people(q):
        return [row.person_name for row in queries.check_in_list(workshop, q)]

    assert people("jose") == people("álv") == people("cafe coll") == ["José Álvarez"]
    assert people("ZOE") == people("harb") == ["Zoë Ng"]
    assert people("ose") == people("*") == [] and people("") == people("  ") == ["José Álvarez", "Zoë Ng"]
