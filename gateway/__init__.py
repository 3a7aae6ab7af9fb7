"""The SIP gateway: bridges an ordinary telephone call into a counselling session.

A process of its own (`counselling-broker sip-gateway`): media passes through it, so it
scales apart from the signalling processes and the broker never sees a sound.
"""
