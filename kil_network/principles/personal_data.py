"""What the principles area holds about a member: votes, suggestions, endorsements."""
import sqlalchemy as sa

from kil_network.extensions import db
from kil_network.principles.models import Draft, Endorsement, Round, Suggestion, Vote


def export_votes(user) -> list:
    """Each vote with its round, principle, stance and comment."""
    rows = db.session.execute(
        sa.select(Round.name, Draft.number, Draft.title, Vote.stance, Vote.comment, Vote.workshop_id, Vote.updated_at)
        .select_from(Vote).join(Draft).join(Round).where(Vote.user_id == user.id).order_by(Vote.id)
    ).all()
    return [{"round": r, "principle": n, "draft_title": t, "stance": s.value, "comment": c,
             "workshop_id": w, "updated_at": u.isoformat()} for r, n, t, s, c, w, u in rows]


def export_suggestions(user) -> list:
    """Each suggestion with the staff response."""
    rows = db.session.scalars(sa.select(Suggestion).where(Suggestion.user_id == user.id).order_by(Suggestion.id)).all()
    return [{"draft_id": s.draft_id, "text": s.text, "reason": s.reason, "endorsements": s.endorsement_count,
             "response": s.response_status.value if s.response_status else None, "response_text": s.response_text,
             "created_at": s.created_at.isoformat()} for s in rows]


def export_endorsements(user) -> list:
    """The suggestions the member endorsed."""
    return list(db.session.scalars(sa.select(Endorsement.suggestion_id).where(Endorsement.user_id == user.id)))


def erase_principles(user) -> None:
    """Keep votes, suggestions and endorsements counted, but no longer linked to the person."""
    for model in (Vote, Suggestion, Endorsement):
        db.session.execute(sa.update(model).where(model.user_id == user.id).values(user_id=None)
                           .execution_options(synchronize_session=False))
