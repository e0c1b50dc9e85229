"""Models: resolve a name, the local store, load safely for inference and training."""
