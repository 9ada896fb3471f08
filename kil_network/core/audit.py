"""The audit log: every state change made by staff is recorded (who, what, when)."""
from kil_network.core.models import AuditLog
from kil_network.extensions import db


def record(actor, action: str, target, summary: str, **details) -> AuditLog:
    """Add an audit entry to the current transaction."""
    entry = AuditLog(
        actor_id=getattr(actor, "id", None),
        action=action,
        target_type=type(target).__name__.lower() if target is not None else "system",
        target_id=getattr(target, "id", None),
        summary=summary[:500],
        details=details,
    )
    db.session.add(entry)
    return entry
