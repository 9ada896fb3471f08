"""Principles: draft rounds, votes, suggestions, results, revision history, live voting."""
