"""The model families. Each one is driven through the same protocol: sample, log_likelihood, save, from_pretrained."""
