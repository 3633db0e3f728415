"""sim layer of ternecg."""
