"""Issuer and trust-list keys: generation, encrypted storage, rotation and signed trust lists."""
