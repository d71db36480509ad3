"""Plotting functions: each returns a plotly figure and never calls .show()."""
