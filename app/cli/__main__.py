"""`python -m app.cli`: the same as the `suishen` command."""

from app.cli import main

main()
