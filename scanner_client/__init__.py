"""The gate program: capture, decode, offline verify, display, outbox sync."""
