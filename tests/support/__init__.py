"""Helpers shared by tests: tests import these, never each other."""
