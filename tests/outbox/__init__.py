"""Mail outbox, background worker, scheduler."""
