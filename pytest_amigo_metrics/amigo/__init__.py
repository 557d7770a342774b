"""The Amigo API backend, on the official amigo-sdk (imported only when a suite uses it)."""
