"""Shared plumbing: database, Redis, errors, logging, metrics, outbox, embedded servers."""
