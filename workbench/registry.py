"""Build a method from a name -> class registry (the tabular lab's methods, the LLM lab's trainers)."""

from __future__ import annotations

from collections.abc import Callable, Mapping


def build(registry: Mapping[str, Callable], name: str, what: str, **hyper):
    """``registry[name](**hyper)``; an unknown name or bad hyperparameters raise naming ``what`` and the name."""
    if name not in registry:
        raise KeyError(f"unknown {what} {name!r}; known: {', '.join(registry)}")
    try:
        return registry[name](**hyper)
    except TypeError as exc:
        raise TypeError(f"bad hyperparameters for {name!r}: {hyper} ({exc})") from exc
