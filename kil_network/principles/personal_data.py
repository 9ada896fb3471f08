"""What the principles area holds about a member: votes, suggestions, endorsements."""
import sqlalchemy as sa

from kil_network.extensions import db
from kil_network.principles.models import Draft, Endorsement, Round, Suggestion, Vote


def export_votes(user) -> list:
    """Each vote with its round, principle, stance and comment, and the comment's moderation: its
    status, the wording published when staff redacted it, and why staff hid it."""
    rows = db.session.execute(
        sa.select(Round.name, Draft.number, Draft.title, Vote)
        .select_from(Vote).join(Draft).join(Round).where(Vote.user_id == user.id).order_by(Vote.id)
    ).all()
    return [{"round": r, "principle": n, "draft_title": t, "stance": v.stance.value, "comment": v.comment,
             "comment_moderation": v.comment_status.value if v.comment else None,
             "comment_published_as": v.published_comment if v.comment_is_public else None,
             "comment_hidden_reason": v.comment_hidden_reason or None,
             "workshop_id": v.workshop_id, "updated_at": v.updated_at.isoformat()} for r, n, t, v in rows]


def export_suggestions(user) -> list:
    """Each suggestion with its moderation (status, the wording published, why it was hidden) and
    the staff response."""
    rows = db.session.scalars(sa.select(Suggestion).where(Suggestion.user_id == user.id).order_by(Suggestion.id)).all()
    return [{"draft_id": s.draft_id, "text": s.text, "reason": s.reason, "moderation": s.moderation.value,
             "published_text": s.public_text if s.is_public else None,
             "published_reason": s.public_reason if s.is_public else None,
             "hidden_reason": s.hidden_reason or None, "endorsements": s.endorsement_count,
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
