"""`python -m nb2svc`."""

from nb2svc.cli import main

main()
