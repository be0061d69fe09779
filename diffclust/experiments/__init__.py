"""Self-contained experiments that need no dataset download."""
