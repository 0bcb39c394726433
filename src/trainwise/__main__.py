"""`python -m trainwise` (and `torchrun -m trainwise`) runs the CLI."""

from trainwise.cli import main

raise SystemExit(main())
