"""nb2svc: turn a marked proof-of-concept notebook into a production-grade service."""

__version__ = "0.1.0"
