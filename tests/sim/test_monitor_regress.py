"""sim/monitor_regress.py without a simulator: the printed table of a report."""

from ternecg.sim import monitor_regress

MONITOR = {"records": 22, "samples": 14300000, "beats": 49000, "mismatches": 0, "samples_per_s": 123456.7,
           "cycles_per_sample": 88.1}
HEADER = ("| part | records | samples | beats | mismatches | samples/s (one process) | cycles/sample |\n"
          "|---|---|---|---|---|---|---|\n")


def test_table_lists_the_parts_that_ran():
    assert monitor_regress.table({"monitor": MONITOR, "wall_seconds": 321.5}) == (
        HEADER + "| monitor | 22 | 14300000 | 49000 | 0 | 123456.7 | 88.1 |\n\nwall time 321.5 s")
    detector = {"records": 48, "samples": 31000000, "beats": 0, "mismatches": 1, "samples_per_s": 5,
                "cycles_per_sample": 9}
    assert monitor_regress.table({"detector": detector, "monitor": MONITOR, "wall_seconds": 321.5}) == (
        HEADER + "| detector | 48 | 31000000 | 0 | 1 | 5 | 9 |\n"
                 "| monitor | 22 | 14300000 | 49000 | 0 | 123456.7 | 88.1 |\n\nwall time 321.5 s")
