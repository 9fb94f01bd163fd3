"""Speed and accuracy benchmark of the speech engines, on synthetic sales calls.

Plain Python, no Django: `python -m bench.run` (or `manage.py benchmark`) builds the corpus once
under data/bench/ and writes docs/benchmarks.md.
"""
