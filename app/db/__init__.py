"""The services database: one schema, one way to open it, bulk writes, migrations."""
