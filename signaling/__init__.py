"""socket.io adapter: connection auth, event validation, rate limits, relaying, load push.

Imports `broker` only (checked by import-linter).
"""
