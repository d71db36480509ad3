"""Tabular NLHF algorithms: one module per method, all with the stepwise ``init``/``step`` API."""
