"""The survey: its questions, which ones apply given earlier answers, and answer checks.

The flow follows the campaign's own survey: four screening questions decide who the survey is
for, then follow-up questions depend on the answers. Pure functions, no database.
"""
from collections.abc import Callable
from dataclasses import dataclass, field

from kil_network.core.forms import clean_text

YES_NO = [("yes", "Yes"), ("no", "No")]
TEXT_MAX = 3000  # a text answer's limit: shown as a character count, a longer answer refused (never cut)


@dataclass(frozen=True)
class Question:
    """One question on its own page."""

    id: str
    text: str
    kind: str  # radio | checkbox | text | select
    options: list[tuple[str, str]] = field(default_factory=list)  # (stored value, label)
    hint: str = ""
    required: bool = True
    applies: Callable[[dict], bool] = lambda a: True


def _delivers(a):
    return a.get("delivers") == "yes"


def _delivered_before(a):
    return a.get("delivers") == "no" and a.get("delivered_before") == "yes"


def _would_like(a):
    return a.get("delivers") == "no" and a.get("delivered_before") == "no" and a.get("would_like") == "yes"


def _community(a):
    return _delivers(a) or _delivered_before(a) or _would_like(a)


def _council(a):
    return a.get("council_role") in ("commissioning", "councillor")


def in_scope(a: dict) -> bool:
    """Is the survey for this person (any screening answer was yes)?"""
    return _community(a) or _council(a)


QUESTIONS = [
    Question("delivers", "Are you a community organisation that delivers public service contracts?", "radio", YES_NO),
    Question("delivered_before", "Have you delivered public service contracts in the past, but no longer do?", "radio",
             YES_NO, applies=lambda a: a.get("delivers") == "no"),
    Question("would_like",
             "Would delivering public service contracts fulfil your organisation's mission, even though you have not "
             "yet taken part?",
             "radio", YES_NO, applies=lambda a: a.get("delivers") == "no" and a.get("delivered_before") == "no"),
    Question("council_role", "Do you work in commissioning or procurement, or are you an elected councillor?", "radio",
             [("commissioning", "I work in commissioning or procurement"), ("councillor", "I am an elected councillor"),
              ("neither", "Neither")]),
    Question("contract_size", "What is the annual value of the largest public service contract you hold?", "radio",
             [("under_100k", "Under £100,000"), ("100k_500k", "£100,000 to £500,000"),
              ("500k_1m", "£500,000 to £1 million"),
              ("over_1m", "Over £1 million")], applies=_delivers),
    Question("contract_length", "How long is that contract?", "radio",
             [("under_1", "Under 1 year"), ("1_3", "1 to 3 years"), ("3_5", "3 to 5 years"),
              ("over_5", "Over 5 years")],
             applies=_delivers),
    Question("why_stopped", "Why did you stop delivering public service contracts?", "text",
             hint="For example: the contract was re-tendered at a larger scale.", applies=_delivered_before),
    Question("barriers", "Which barriers have you met when bidding for public service contracts?", "checkbox",
             [("size", "Contracts too large for us"), ("payment_by_results", "Payment by results"),
              ("timescales", "Short timescales to bid"), ("complexity", "Complex tender documents"),
              ("insurance", "Insurance, bonds or financial tests"), ("price", "Competition mainly on price"),
              ("none", "None of these")], hint="Select all that apply.", applies=_community),
    Question("large_contracts", "What has been your experience of large contracts in your area?", "text",
             hint="For example, a prime contractor that sub-contracted to you, or services that did not reach people.",
             required=False, applies=_community),
    Question("commissioning_practice", "How does your council mostly commission services?", "radio",
             [("large", "Mostly through large contracts"),
              ("mixed", "A mix of large contracts and local grants or contracts"),
              ("local", "Mostly through local organisations"), ("unsure", "I do not know")], applies=_council),
    Question("what_would_help", "What would help councils commission more from local community organisations?", "text",
             required=False, applies=in_scope),
    Question("region", "Which region do you mostly work in?", "select", [], applies=in_scope),
]
BY_ID = {q.id: q for q in QUESTIONS}


def visible(answers: dict) -> list[Question]:
    """The questions that apply to these answers, in order."""
    return [q for q in QUESTIONS if q.applies(answers)]


def first() -> Question:
    """The first question."""
    return QUESTIONS[0]


def next_after(question_id: str, answers: dict) -> Question | None:
    """The next applicable question after this one, or None when all are answered."""
    ids = [q.id for q in QUESTIONS]
    for q in QUESTIONS[ids.index(question_id) + 1:]:
        if q.applies(answers):
            return q
    return None


def previous_before(question_id: str, answers: dict) -> Question | None:
    """The applicable question before this one (for the back link)."""
    ids = [q.id for q in QUESTIONS]
    for q in reversed(QUESTIONS[:ids.index(question_id)]):
        if q.applies(answers):
            return q
    return None


def clean(answers: dict) -> dict:
    """Keep only answers to questions that apply (after a screening answer changes)."""
    kept: dict = {}
    for q in QUESTIONS:  # a question depends only on the answers before it
        if q.id in answers and q.applies(kept):
            kept[q.id] = answers[q.id]
    return kept


def first_unanswered(answers: dict) -> Question | None:
    """The first applicable question without an answer."""
    for q in visible(answers):
        if q.id not in answers:
            return q
    return None


def check_answer(question: Question, values: list[str],
                 region_choices: list[tuple[str, str]]) -> tuple[object, str | None]:
    """(answer, error message) for what was submitted on a question page."""
    options = region_choices if question.kind == "select" else question.options
    allowed = {v for v, _ in options}
    values = [v.strip() for v in values if v is not None]
    if question.kind == "text":
        text = clean_text(values[0] if values else "")  # no NUL or other control characters stored
        if question.required and not text:
            return None, "Enter your answer"
        if len(text) > TEXT_MAX:
            return None, f"Your answer must be {TEXT_MAX:,} characters or fewer (it has {len(text):,})"
        return text, None
    if question.kind == "checkbox":
        chosen = [v for v in values if v in allowed]
        if not chosen:
            return None, "Select at least one option"
        if "none" in chosen and len(chosen) > 1:
            return None, "Select ‘None of these’ on its own, or the barriers you met"
        return chosen, None
    choice = values[0] if values else ""
    if choice not in allowed:
        return None, "Select an option" if question.kind == "radio" else "Select your region"
    return choice, None


def respondent_type(answers: dict) -> str:
    """A respondent type for filtering results, derived from the screening answers."""
    if answers.get("council_role") == "councillor":
        return "councillor"
    if answers.get("council_role") == "commissioning":
        return "commissioner"
    if _delivers(answers):
        return "delivers_contracts"
    if _delivered_before(answers):
        return "delivered_before"
    if _would_like(answers):
        return "would_like_to"
    return "out_of_scope"


RESPONDENT_TYPES = {
    "delivers_contracts": "Community organisation delivering contracts",
    "delivered_before": "Community organisation that used to deliver contracts",
    "would_like_to": "Community organisation that would like to",
    "commissioner": "Commissioning or procurement",
    "councillor": "Councillor",
}


def option_label(question: Question, value, region_names: dict | None = None) -> str:
    """The words for a stored answer."""
    if question.kind == "select":
        return (region_names or {}).get(str(value), str(value))
    labels = dict(question.options)
    if isinstance(value, list):
        return ", ".join(labels.get(v, str(v)) for v in value)
    return labels.get(value, value) if question.options else str(value)
