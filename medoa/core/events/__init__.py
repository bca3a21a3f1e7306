"""The domain event bus: registered event types, an outbox written in the caller's transaction,
and delivery to subscribers by the worker after commit, at least once."""
