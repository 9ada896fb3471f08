"""Workshops: scheduling, registration with waitlist, emails and calendar, check-in."""
