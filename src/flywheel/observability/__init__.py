"""Observability: the metric catalogue, embedded-metric-format lines, and what reads them back."""
