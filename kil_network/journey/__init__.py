"""The council journey: interest, endorsement, champions, conversation, self-assessment (issue 15)."""
