"""The matching run on Spark, for registries too big for one machine: the same rules, as Spark SQL.

Nothing here re-implements a rule or a check. The registry checks (load.reason_sql: wrong
types, unknown codes, impossible dates, unknown subjects; duplicates keep their first row) are
the DuckDB loader's, transpiled, and a run refuses registries with too many rejects with the
loader's own error (load.check_reject_share). The facts views (registries.py) and every policy's
`CASE WHEN <scope> AND <rule> THEN '<id>' END` column (engine.entitlement_columns over
sql.compile_sql) are the DuckDB SQL the one-machine run executes, transpiled with sqlglot from
the duckdb dialect to the spark dialect (literals such as `DATE '…'` and quotes in strings
come out in Spark's spelling). Only what has no DuckDB original is written here by hand, in
Spark SQL: the data-source views over the registry files, the staging that numbers rows and
finds duplicates (a join where DuckDB has a subquery), and the one pass per subject kind
that turns a row's policy columns into entitlement rows (DuckDB's `unnest(list_filter([...]))`
is Spark's `explode(filter(array(...)))`).

SQL generation is pure (no Spark needed, only sqlglot); the runner takes a SparkSession, so
the same code runs in local mode in the tests and under spark-submit on a cluster
(docs/spark.md). `python -m app.matching.spark` is that driver.

Modules: `views` (the SQL and the views), `corrections` (upheld objections' facts), `run`
(the run and the driver). Each imports only those before it.
"""
