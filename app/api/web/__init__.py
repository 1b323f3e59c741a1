"""The web pages: citizen code page (/), staff handheld page (/staff), admin dashboard (/admin)."""
