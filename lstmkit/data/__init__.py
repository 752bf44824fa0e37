"""Data: loaders and pipelines, tokenizers, scalers and the built-in dataset registry."""
