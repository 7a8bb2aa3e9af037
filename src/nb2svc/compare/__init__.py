"""``nb2svc compare A B --data FILE``: score the same rows with two models and report
how far they agree (shadow comparison before a promotion)."""
