"""Domain core of counselling-broker: sessions, channels, credentials, live load.

Nothing in this package may import `signaling` or `web`; the pure modules do no I/O
(checked by import-linter, see pyproject.toml).
"""
