"""Import every area's models so SQLAlchemy and Alembic see the whole schema.

The factory takes `db` from here, so no app is built before every model is mapped.
"""
from kil_network.auth.models import MemberType, Role, SignInCode, Status, User
from kil_network.core.models import AuditLog, OutboxEmail
from kil_network.core.submissions import SubmissionKey
from kil_network.councils.models import Pledge
from kil_network.evidence.models import (
    Call,
    Submission,
    SubmissionTag,
    SubmissionTopic,
    SurveyResponse,
)
from kil_network.extensions import db
from kil_network.journey.models import (
    Assessment,
    AssessmentAnswer,
    AssessmentReminder,
    Champion,
    CommunityConversation,
    CouncilEndorsement,
    CouncilInterest,
    PeerIntroduction,
)
from kil_network.members.models import (
    ConsentRecord,
    ConsentWithdrawalCount,
    LocalAuthority,
    NotificationPreference,
    Organisation,
    OrganisationEditor,
    Region,
)
from kil_network.messages.models import Message
from kil_network.principles.models import (
    Draft,
    Endorsement,
    Principle,
    Round,
    Suggestion,
    Vote,
    VoteTally,
)
from kil_network.workshops.models import (
    Registration,
    RegistrationEvent,
    Workshop,
)

__all__ = [
    "Assessment",
    "AssessmentAnswer",
    "AssessmentReminder",
    "Champion",
    "CommunityConversation",
    "CouncilEndorsement",
    "CouncilInterest",
    "PeerIntroduction",
    "AuditLog",
    "Call",
    "ConsentRecord",
    "ConsentWithdrawalCount",
    "db",
    "Draft",
    "Endorsement",
    "LocalAuthority",
    "MemberType",
    "Message",
    "NotificationPreference",
    "Organisation",
    "OrganisationEditor",
    "OutboxEmail",
    "Pledge",
    "Principle",
    "Region",
    "Registration",
    "RegistrationEvent",
    "Role",
    "SignInCode",
    "Round",
    "Status",
    "Submission",
    "SubmissionKey",
    "SubmissionTag",
    "SubmissionTopic",
    "Suggestion",
    "SurveyResponse",
    "User",
    "Vote",
    "VoteTally",
    "Workshop",
]
