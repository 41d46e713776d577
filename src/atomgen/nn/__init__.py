"""Neural building blocks shared by every model family: transformers with a KV cache, adaLN, embeddings."""
