"""Conditional tasks built on the generators without retraining: hydrogen decoration, scaffold completion."""
