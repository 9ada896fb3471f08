"""Staff: member administration, audit log, email outbox."""
