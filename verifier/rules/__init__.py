"""One rule language, two evaluators: per-scan closures here, SQL for bulk matching in app/matching.

A rule is plain data (from YAML or JSON) parsed into one AST (`ast.py`) with precise errors
(`parse.py`); `evaluate.py` compiles it once per catalogue load into closures that also
explain themselves in words.
"""
