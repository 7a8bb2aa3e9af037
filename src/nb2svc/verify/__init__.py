"""nb2svc verify: run the notebook and the generated service, and compare their answers."""
