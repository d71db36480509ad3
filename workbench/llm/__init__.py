"""The LLM lab: NLHF fine-tuning of causal language models, with the exact equilibrium as ground truth."""
