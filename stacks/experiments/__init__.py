"""Ephemeral experiments: the DynamoDB ledger, lifecycle, garbage collection, quotas and pricing."""
