"""Pledge rules and what a council's page shows (kil_network/councils/services.py), without HTTP."""
from datetime import date

import sqlalchemy as sa
from flask_login import AnonymousUserMixin

from kil_network.councils import services
from kil_network.councils.models import PledgeStatus, SignedBy
from kil_network.extensions import db
from kil_network.members.models import LocalAuthority


def council(gss_code: str) -> LocalAuthority:
    """The local authority with this GSS code (loaded by the migration)."""
    return db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == gss_code))


def pledge_for(member, la):
    """A pledge submitted by this member for this council."""
    pledge = services.submit_pledge(member, la, signed_by=SignedBy.CABINET_DECISION, signatories="Cabinet",
                                    pledged_on=date(2025, 3, 27), champions="Cllr Priya Patel")
    db.session.commit()
    return pledge


def test_council_page_shows_a_pledge_only_once_verified(app, make_user):
    """A pending pledge is not public: the page's pledge is None until staff verify it."""
    bristol = council("E06000023")
    councillor = make_user(member_type="councillor", organisation="", gss_code="E06000023")
    staff = make_user(role="staff", member_type="other", organisation="")
    pledge = pledge_for(councillor, bristol)
    assert services.published_pledge(bristol) is None
    assert services.council_page(bristol, staff)["pledge"] is None
    services.review_pledge(staff, pledge, PledgeStatus.VERIFIED)
    db.session.commit()
    assert services.published_pledge(bristol).id == pledge.id
    assert services.council_page(bristol, AnonymousUserMixin())["pledge"].id == pledge.id


def test_council_page_names_members_only_to_confirmed_members(app, make_user):
    """Everyone sees how many listed members a council has; only confirmed members see who they are."""
    bristol = council("E06000023")
    listed = make_user(name="Listed Member", gss_code="E06000023")
    make_user(name="Unlisted Member", gss_code="E06000023", show_in_directory=False)
    unconfirmed = make_user(name="New Member", gss_code="W06000015", confirmed=False)
    for viewer in (AnonymousUserMixin(), unconfirmed):
        page = services.council_page(bristol, viewer)
        assert (page["members"], page["member_count"]) == ([], 1)
    page = services.council_page(bristol, listed)
    assert ([m.name for m in page["members"]], page["member_count"]) == (["Listed Member"], 1)


def test_council_page_offers_the_pledge_only_to_those_who_may_submit_it(app, make_user):
    """The pledge link follows the pledge rules: a confirmed councillor of that council, no live pledge."""
    bristol = council("E06000023")
    councillor = make_user(member_type="councillor", organisation="", gss_code="E06000023")
    other_council = make_user(member_type="councillor", organisation="", gss_code="W06000015")
    assert services.council_page(bristol, AnonymousUserMixin())["can_pledge"] is False
    assert services.council_page(bristol, other_council)["can_pledge"] is False
    assert services.council_page(bristol, councillor)["can_pledge"] is True
    pledge_for(councillor, bristol)
    assert services.council_page(bristol, councillor)["can_pledge"] is False


def test_council_page_lists_the_first_members_by_name_and_counts_them_all(app, make_user, monkeypatch):
    """Its cost follows the page: the first MEMBERS_SHOWN listed members by name, the count of all of
    them, and how many more there are (the rest are found through the directory)."""
    monkeypatch.setattr(services, "MEMBERS_SHOWN", 3)
    bristol = council("E06000023")
    for n in (5, 1, 4, 2, 6):
        make_user(email=f"cllr{n}@example.org", name=f"Cllr Number{n}", member_type="councillor",
                  organisation="", gss_code="E06000023")
    make_user(email="hidden@example.org", name="Cllr Hidden", member_type="councillor", organisation="",
              gss_code="E06000023", show_in_directory=False)
    viewer = make_user(email="viewer@example.org", member_type="other", organisation="", gss_code="E08000035")
    page = services.council_page(bristol, viewer)
    assert [m.name for m in page["members"]] == ["Cllr Number1", "Cllr Number2", "Cllr Number4"]
    assert page["member_count"] == 5 and page["more_members"] == 2
    anonymous = services.council_page(bristol, AnonymousUserMixin())
    assert anonymous["members"] == [] and anonymous["member_count"] == 5 and anonymous["more_members"] == 0
