"""Online services: signing, catalogue, matching, events, web pages (built up issue by issue)."""
