"""Staff rules: suspending members, roles, exports, the audit log and the outbox."""
import csv
import io

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from kil_network.auth.models import MEMBER_TYPE_LABELS, Role, Status, User
from kil_network.auth.services import new_session_token
from kil_network.core.audit import record
from kil_network.core.csvutil import csv_safe
from kil_network.core.email import retry_now
from kil_network.core.forms import clean_line
from kil_network.core.models import AuditLog, OutboxEmail
from kil_network.core.rules import RuleError
from kil_network.extensions import db
from kil_network.members.search import words as search_words
from kil_network.members.services import member_search, search_page


def staff_member_search(q="", member_type="", region_id="", status="", role="", email=""):
    """Every member (not deleted) matching the staff filters (email "undeliverable": addresses the
    mail server keeps refusing, auth.deliverability)."""
    stmt = member_search(q, member_type, region_id, directory_only=False)
    if email == "undeliverable":
        stmt = stmt.where(User.email_undeliverable_at.is_not(None))
    if status in {s.value for s in Status} and status != Status.DELETED.value:
        stmt = stmt.where(User.status == Status(status))
    if role in {r.value for r in Role}:
        stmt = stmt.where(User.role == Role(role))
    return stmt


def staff_members_page(filters: dict, page: int, per_page: int = 50):
    """One page of the staff members list: a search with no other filter is answered by the search
    index alone (members.services.search_page), anything else by `staff_member_search`."""
    others = any(filters.get(key) for key in ("type", "region", "status", "role", "email"))
    if search_words(filters.get("q")) and not others:
        return search_page(filters["q"], staff=True, page=page, per_page=per_page)
    return db.paginate(staff_member_search(filters.get("q", ""), filters.get("type", ""), filters.get("region", ""),
                                           filters.get("status", ""), filters.get("role", ""),
                                           filters.get("email", "")),
                       page=page, per_page=per_page, error_out=False, count=True)


def email_delivery_notice(member: User) -> dict | None:
    """What staff are told about the member's address on their page: undeliverable since when, after
    how many permanent refusals, and the mail server's last answer; or that it has been refused
    (not yet undeliverable); None when nothing is wrong."""
    if not member.email_bounce_count and member.email_undeliverable_at is None:
        return None
    last_error = db.session.scalar(
        sa.select(OutboxEmail.last_error)
        .where(OutboxEmail.user_id == member.id, OutboxEmail.to_address == member.email,
               OutboxEmail.status == OutboxEmail.FAILED, OutboxEmail.last_error.is_not(None))
        .order_by(OutboxEmail.id.desc()).limit(1))
    return {"since": member.email_undeliverable_at, "refusals": member.email_bounce_count,
            "last_error": last_error or "no answer kept"}


def suspend(actor: User, member: User, reason: str = "") -> None:
    """Suspend an account: the member is signed out and cannot sign in."""
    if member.id == actor.id:
        raise RuleError("You cannot suspend your own account.")
    if member.is_staff and not actor.is_admin:
        raise RuleError("Only an admin can suspend a member of staff.")
    if member.status != Status.ACTIVE:
        raise RuleError("Only an active account can be suspended.")
    member.status = Status.SUSPENDED
    member.session_token = new_session_token()
    record(actor, "member.suspend", member, f"Suspended member #{member.id}", reason=reason)


def reactivate(actor: User, member: User) -> None:
    """Let a suspended member sign in again."""
    if member.status != Status.SUSPENDED:
        raise RuleError("Only a suspended account can be reactivated.")
    if member.is_staff and not actor.is_admin:
        raise RuleError("Only an admin can reactivate a member of staff.")
    member.status = Status.ACTIVE
    record(actor, "member.reactivate", member, f"Reactivated member #{member.id}")


def change_role(actor: User, member: User, role: Role) -> None:
    """Change a member's role: only an admin grants or removes staff and admin rights."""
    if member.id == actor.id:
        raise RuleError("You cannot change your own role.")
    if not actor.is_admin and (role != Role.MEMBER or member.role != Role.MEMBER):
        raise RuleError("Only an admin can grant or remove staff or admin rights.")
    if member.status == Status.DELETED:
        raise RuleError("This account has been deleted.")
    if member.role == role:
        return
    old = member.role
    member.role = role
    member.session_token = new_session_token()  # new rights take effect on next sign-in
    record(actor, "member.role", member, f"Changed role of member #{member.id} from {old.value} to {role.value}",
           old=old.value, new=role.value)


CSV_COLUMNS = ["id", "name", "email", "member_type", "organisation", "council", "gss_code",
               "region", "job_title", "role", "status", "email_confirmed", "campaign_emails",
               "in_directory", "joined_at"]


def members_csv(stmt, actor: User) -> str:
    """The filtered member list as CSV text; the export itself is audited."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for user in db.session.scalars(stmt).unique():
        count += 1
        writer.writerow([csv_safe(v) for v in [
            user.id, user.name, user.email, MEMBER_TYPE_LABELS[user.member_type],
            user.organisation.name if user.organisation else "",
            user.local_authority.name if user.local_authority else "",
            user.local_authority.gss_code if user.local_authority else "",
            user.region.name if user.region else "", user.job_title, user.role.value,
            user.status.value, "yes" if user.is_confirmed else "no",
            "yes" if user.consent_marketing else "no", "yes" if user.show_in_directory else "no",
            user.created_at.isoformat(),
        ]])
    record(actor, "member.export", None, f"Exported {count} members as CSV")
    return out.getvalue()


def audit_page(page: int, action: str = "", per_page: int = 50):
    """A page of the audit log, newest first, with the actor loaded in the same query."""
    stmt = sa.select(AuditLog).options(joinedload(AuditLog.actor)).order_by(AuditLog.id.desc())
    if action:
        stmt = stmt.where(AuditLog.action == clean_line(action)[:64])
    return db.paginate(stmt, page=page, per_page=per_page, error_out=False, count=True)


def outbox_page(page: int, status: str = "", per_page: int = 50):
    """A page of the email outbox, newest first."""
    stmt = sa.select(OutboxEmail).order_by(OutboxEmail.id.desc())
    if status in (OutboxEmail.PENDING, OutboxEmail.SENT, OutboxEmail.FAILED):
        stmt = stmt.where(OutboxEmail.status == status)
    return db.paginate(stmt, page=page, per_page=per_page, error_out=False, count=True)


def outbox_counts() -> dict:
    """How many emails are pending, sent and failed."""
    rows = db.session.execute(
        sa.select(OutboxEmail.status, sa.func.count()).group_by(OutboxEmail.status)
    ).tuples().all()
    return {OutboxEmail.PENDING: 0, OutboxEmail.SENT: 0, OutboxEmail.FAILED: 0, **dict(rows)}


def retry_email(actor: User, mail: OutboxEmail) -> bool:
    """Queue a failed or waiting email again; one sent or being sent now is left alone (False)."""
    if mail.status in (OutboxEmail.SENT, OutboxEmail.SENDING):
        return False
    retry_now(mail)
    record(actor, "email.retry", mail, f"Queued email #{mail.id} for another try")
    return True
