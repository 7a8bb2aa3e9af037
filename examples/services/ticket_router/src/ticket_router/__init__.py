"""Ticket Router: a prediction service.

Generated from the notebook ticket_router.ipynb
by nb2svc 0.1.0. Edit the notebook and regenerate rather than editing
this package.
"""

__version__ = "0.1.0"
