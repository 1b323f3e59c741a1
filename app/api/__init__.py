"""The HTTP API routers (docs/api.md): citizen, gate and handheld, admin, operations."""
