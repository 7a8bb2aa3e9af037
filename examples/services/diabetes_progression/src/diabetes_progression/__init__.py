"""Diabetes Progression: a prediction service.

Generated from the notebook diabetes_progression.ipynb
by nb2svc 0.1.0. Edit the notebook and regenerate rather than editing
this package.
"""

__version__ = "0.1.0"
