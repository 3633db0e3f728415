"""golden/evaluate.py without the database: the printed table of a report."""

from ternecg.golden import evaluate


def _row(acc, f1, beats):
    return {"acc": acc, "f1_abnormal": f1, "beats": beats}


def test_table():
    """Four protocols, integer and float, the six-class protocol without an F1; the model line."""
    rows = {"patient_specific": _row(0.98664, 0.93661, 41499), "inter_patient": _row(0.95944, 0.81432, 49689),
            "inter_patient_no_rr": _row(0.91869, 0.65171, 49689), "six_class_random": _row(0.982, None, 27365)}
    report = {"integer": rows, "float": {**rows, "patient_specific": _row(0.9821, 0.917, 41499)},
              "model": {"name": "msgc_mux", "weights": 5970, "weight_bytes": 1493, "macs": 83694,
                        "macs_ptflops": 83694}}
    assert evaluate.table(report) == (
        "| protocol | model | acc | F1 abnormal | beats |\n"
        "|---|---|---|---|---|\n"
        "| patient_specific | integer | 0.9866 | 0.9366 | 41499 |\n"
        "| patient_specific | float | 0.9821 | 0.9170 | 41499 |\n"
        "| inter_patient | integer | 0.9594 | 0.8143 | 49689 |\n"
        "| inter_patient | float | 0.9594 | 0.8143 | 49689 |\n"
        "| inter_patient_no_rr | integer | 0.9187 | 0.6517 | 49689 |\n"
        "| inter_patient_no_rr | float | 0.9187 | 0.6517 | 49689 |\n"
        "| six_class_random | integer | 0.9820 |  | 27365 |\n"
        "| six_class_random | float | 0.9820 |  | 27365 |\n"
        "\nmodel msgc_mux: 5970 ternary weights (1493 bytes), 83694 MACs per beat (ptflops: 83694)")
