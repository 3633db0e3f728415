"""golden layer of ternecg."""
