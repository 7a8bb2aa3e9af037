"""Fraud Scoring: a prediction service.

Generated from the notebook fraud_scoring.ipynb
by nb2svc 0.1.0. Edit the notebook and regenerate rather than editing
this package.
"""

from nb2svc_runtime import check_version

# First of all: refuse to run on a runtime other than the one this package was
# generated against (the wheel in vendor/).
check_version("0.1.1", __name__)

__version__ = "0.1.0"
