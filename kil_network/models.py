"""Import every area's models so SQLAlchemy and Alembic see the whole schema."""
from kil_network.auth.models import MemberType, Role, Status, User  # noqa: F401
from kil_network.core.models import AuditLog, OutboxEmail  # noqa: F401
from kil_network.core.submissions import SubmissionKey  # noqa: F401
from kil_network.councils.models import Pledge  # noqa: F401
from kil_network.evidence.models import (  # noqa: F401
    Call,
    Submission,
    SubmissionTag,
    SubmissionTopic,
    SurveyResponse,
)
from kil_network.members.models import (  # noqa: F401
    ConsentRecord,
    LocalAuthority,
    Organisation,
    OrganisationEditor,
    Region,
)
from kil_network.principles.models import (  # noqa: F401
    Draft,
    Endorsement,
    Principle,
    Round,
    Suggestion,
    Vote,
    VoteTally,
)
from kil_network.workshops.models import (  # noqa: F401
    Registration,
    RegistrationEvent,
    Workshop,
)
