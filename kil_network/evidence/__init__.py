"""Call for evidence: calls with deadlines, the survey, written evidence, review and library."""
