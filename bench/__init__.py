"""Load test of the production-like stack: `make loadtest` (see run_loadtest.py)."""
