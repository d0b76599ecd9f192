"""Benchmarks of ccgw against the direct upstream and against LiteLLM (see bench/README.md)."""
