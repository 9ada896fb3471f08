"""Core: infrastructure that knows no area (errors, health, htmx, email outbox, audit log, time,
params, csrf, the personal-data registry, rules). It imports only kil_network.extensions."""
