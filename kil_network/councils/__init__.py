"""Councils: the Keep it Local pledge, submitted by a council's members and verified by staff."""
