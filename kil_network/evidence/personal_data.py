"""What the evidence and councils areas hold about a member, for export and deletion."""
import sqlalchemy as sa

from kil_network.councils.models import Pledge
from kil_network.evidence import uploads
from kil_network.evidence.models import Publication, Submission, SurveyResponse
from kil_network.extensions import db


def export_survey(user) -> list:
    """The member's survey answers (in progress and submitted)."""
    rows = db.session.scalars(
        sa.select(SurveyResponse).where(SurveyResponse.user_id == user.id).order_by(SurveyResponse.id))
    return [{"call_id": r.call_id, "status": r.status, "reference": r.reference, "answers": r.answers,
             "submitted_at": r.submitted_at.isoformat() if r.submitted_at else None} for r in rows]


def export_submissions(user) -> list:
    """Written evidence the member sent while signed in."""
    rows = db.session.scalars(sa.select(Submission).where(Submission.user_id == user.id).order_by(Submission.id))
    return [{"reference": s.reference, "call_id": s.call_id, "name": s.name, "email": s.email,
             "organisation": s.organisation, "topics": s.topics, "text": s.text, "file": s.file_name,
             "publication": s.publication.value, "received_at": s.created_at.isoformat()} for s in rows]


def export_pledges(user) -> list:
    """Council pledges the member submitted."""
    rows = db.session.scalars(sa.select(Pledge).where(Pledge.submitted_by_id == user.id))
    return [{"council": p.local_authority.gss_code, "status": p.status.value, "signatories": p.signatories,
             "pledged_on": p.pledged_on.isoformat()} for p in rows]


def erase_evidence(user) -> None:
    """Unlink survey answers and pledges; strip names and documents from evidence, publishing it anonymously."""
    db.session.execute(sa.delete(SurveyResponse).where(SurveyResponse.user_id == user.id,
                                                       SurveyResponse.status == "in_progress")
                       .execution_options(synchronize_session=False))
    db.session.execute(sa.update(SurveyResponse).where(SurveyResponse.user_id == user.id)
                       .values(user_id=None).execution_options(synchronize_session=False))
    db.session.execute(sa.update(Pledge).where(Pledge.submitted_by_id == user.id)
                       .values(submitted_by_id=None).execution_options(synchronize_session=False))
    # Their written evidence stays as anonymous evidence, but the attached document and its name
    # go: a document usually names its author on every page. The file is removed once the
    # deletion commits (uploads.delete_after_commit), so a failed deletion keeps it.
    for s in db.session.scalars(sa.select(Submission).where(Submission.user_id == user.id)):
        s.name, s.email, s.organisation, s.user_id = "Former member", "", "", None
        if s.publication == Publication.NAMED:
            s.publication = Publication.ANONYMOUS
        if s.file_key:
            uploads.delete_after_commit(s.file_key)
        s.file_key, s.file_name, s.file_kind, s.file_size = "", "", "", 0
        s.file_may_publish = s.file_approved = False
