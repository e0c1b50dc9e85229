"""One module per task; each exposes a plain function returning typed results."""
