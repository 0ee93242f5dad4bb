"""Developer scripts; a package so that `python -m scripts.bench_startup` imports tests.support."""
