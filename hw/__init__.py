"""hw layer of ternecg."""
