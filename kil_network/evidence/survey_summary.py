"""The survey's results as they may be published: counts per answer overall, by respondent type
and by region, through the disclosure rules (`kil_network.core.disclosure`), as a CSV that staff
can put in a report. Staff's own results page shows every response; this is what leaves the app.

A radio question is one table (each respondent gave one answer: the answers are the
categories); each option of a checkbox question is a table of its own (chose it / did not), as a
respondent may choose several. Text answers and the region question itself are not tabulated.
"""
import csv
import io

import sqlalchemy as sa

from kil_network.core import disclosure
from kil_network.core.csvutil import csv_safe
from kil_network.evidence import survey
from kil_network.evidence.models import Call, SurveyResponse
from kil_network.extensions import db
from kil_network.members.models import Region


def _tables(rows, categories: list[str], answer_of) -> disclosure.Table:
    """One protected table: `answer_of(answers)` gives the category index, or None to leave out."""
    overall = [0] * len(categories)
    dims: dict[str, dict] = {"respondent type": {}, "region": {}}
    for answers, rtype, region_id in rows:
        index = answer_of(answers)
        if index is None:
            continue
        overall[index] += 1
        for dim, key in (("respondent type", rtype or None), ("region", region_id)):
            if key is not None:
                dims[dim].setdefault(key, [0] * len(categories))[index] += 1
    return disclosure.protect(overall, dims, categories)


def summary_tables(call: Call) -> list[tuple[str, list[str], disclosure.Table]]:
    """[(heading, category labels, protected table)] for every tabulated question; one query."""
    rows = db.session.execute(
        sa.select(SurveyResponse.answers, SurveyResponse.respondent_type, SurveyResponse.region_id)
        .where(SurveyResponse.call_id == call.id, SurveyResponse.status == "submitted")).tuples().all()
    out = []
    for q in survey.QUESTIONS:
        if q.kind == "radio":
            values = [v for v, _ in q.options]

            def single(answers, values=values, qid=q.id):
                value = answers.get(qid)
                return values.index(value) if value in values else None

            out.append((q.text, [label for _, label in q.options], _tables(rows, values, single)))
        elif q.kind == "checkbox":
            for value, label in q.options:
                def chose(answers, value=value, qid=q.id):
                    picked = answers.get(qid)
                    if not picked:
                        return None  # not asked, or not answered
                    return 0 if value in picked else 1

                out.append((f"{q.text}: {label}", ["Chose it", "Did not"], _tables(rows, ["chose", "not"], chose)))
    return out


def summary_csv(call: Call) -> str:
    """The publishable summary: one row per table cell, hidden cells saying why."""
    region_names = {str(i): n for i, n in db.session.execute(sa.select(Region.id, Region.name))}
    names = {"respondent type": survey.RESPONDENT_TYPES, "region": region_names}
    rest = {"respondent type": "Type not recorded", "region": "No region given"}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["question", "group_type", "group", "respondents", "answer", "count", "percent"])
    for heading, labels, table in summary_tables(call):
        cells = [("all", "All respondents", table.overall)]
        for dim, groups in table.dimensions.items():
            for key, cell in sorted(groups.items(), key=lambda kv: (kv[0] == disclosure.REST, str(kv[0]))):
                name = rest[dim] if key == disclosure.REST else names[dim].get(str(key), str(key))
                cells.append((dim, name, cell))
        for dim, name, cell in cells:
            if not cell.total:
                continue
            if cell.suppressed:
                writer.writerow([csv_safe(heading), dim, csv_safe(name), cell.label, "", "", ""])
                continue
            for label, n, pct in zip(labels, cell.counts, cell.pct.values(), strict=True):
                writer.writerow([csv_safe(heading), dim, csv_safe(name), cell.total, label, n, pct])
    return out.getvalue()
