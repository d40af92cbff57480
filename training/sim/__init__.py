"""Vectorized 5G NR downlink link simulator (numpy only; never imports torch)."""
