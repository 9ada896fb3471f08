"""Predicates the templates ask instead of comparing stored values themselves (issue 10)."""
import pytest

from kil_network.core.models import AuditLog, OutboxEmail
from kil_network.evidence.models import Publication


@pytest.mark.parametrize(("status", "attempts", "expected"), [
    (OutboxEmail.PENDING, 0, False), (OutboxEmail.PENDING, 2, True), (OutboxEmail.FAILED, 8, False),
    (OutboxEmail.SENT, 1, False), (OutboxEmail.SENDING, 1, False),
])
def test_outbox_email_waiting_to_retry(status, attempts, expected):
    """Only a pending email that has failed before is waiting for another try."""
    assert OutboxEmail(status=status, attempts=attempts).waiting_to_retry is expected


@pytest.mark.parametrize(("target_type", "target_id", "expected"), [
    ("user", 7, 7), ("user", None, None), ("workshop", 7, None), ("system", None, None),
])
def test_audit_entry_member_id(target_type, target_id, expected):
    """An audit entry links to a member only when its target is one."""
    assert AuditLog(target_type=target_type, target_id=target_id).member_id == expected


def test_publication_may_publish():
    """Named and anonymous evidence may be published; private evidence never."""
    assert [p.may_publish for p in Publication] == [True, True, False]
