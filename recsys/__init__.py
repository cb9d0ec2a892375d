"""An explainable zero-shot sequential recommender driven by a causal language model."""

__version__ = "0.1.0"
