"""boards layer of ternecg."""
