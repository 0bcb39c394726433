"""trainwise speed benchmarks: see README.md; run with `python benchmarks/run.py`."""
