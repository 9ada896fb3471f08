"""Core: layout, errors, health, email outbox, audit log, time and CLI."""
