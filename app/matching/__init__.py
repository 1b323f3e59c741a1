"""Bulk matching (免申即享): registries in, profiles and entitlements out, the rule AST compiled to SQL."""
