"""golden/spec/symbols.py: class names -> WFDB symbols, the header, bxb's reading of them."""

import pytest

from ternecg.errors import TernEcgError
from ternecg.golden import ec57
from ternecg.golden.beats import AAMI, BEAT_SYMBOLS
from ternecg.golden.spec import symbols as S
from ternecg.golden.spec.config import TASKS


def test_binary_abnormal_is_q_with_its_meaning_in_the_header():
    sch = S.scheme(TASKS["binary"], "models/default.json")
    assert sch.symbols == ("N", "Q") and sch.notes == ("", "abnormal")
    assert "models/default.json" in sch.header and "Q = abnormal = AAMI S, V or F" in sch.header
    assert "no V or S decision" in sch.header and len(sch.header) <= S.MAX_AUX


def test_six_class_symbols_and_other():
    sch = S.scheme(TASKS["six"])
    assert sch.symbols == ("N", "V", "F", "/", "f", "Q") and sch.notes[-1] == "other"
    assert "Q = other = any beat type other than N, V, F, /, f" in sch.header


def test_four_class_models_write_their_own_symbols():
    sch = S.scheme(("N", "S", "V", "F"))
    assert sch.symbols == ("N", "S", "V", "F") and sch.notes == ("", "", "", "")
    assert [S.EC57_CLASS[s] for s in sch.symbols] == ["N", "S", "V", "F"]   # bxb reads the same classes
    assert "Q" not in sch.header


@pytest.mark.parametrize("classes, needle", [(("N", "weird"), "class 'weird' has no WFDB beat symbol"),
                                             (("N", "N"), "repeat"),
                                             (("Q", "abnormal"), "share the symbol Q")])
def test_bad_class_lists(classes, needle):
    with pytest.raises(TernEcgError, match=needle):
        S.scheme(classes)


def test_class_index_outside_the_model():
    sch = S.scheme(TASKS["binary"])
    assert sch.symbol(1) == "Q"
    for bad in (2, -1, True):
        with pytest.raises(TernEcgError, match="outside the model's 2 classes"):
            sch.symbol(bad)


def test_long_model_path_is_left_out_of_the_header():
    sch = S.scheme(TASKS["six"], "x" * 300)
    assert "xxx" not in sch.header and len(sch.header) <= S.MAX_AUX


def test_the_ec57_table_covers_every_beat_symbol_and_agrees_with_aami_where_bxb_does():
    assert set(S.EC57_CLASS) == set(S.WFDB_BEATS) == set(ec57.BEAT_SYMBOLS)
    assert set(BEAT_SYMBOLS) <= set(S.WFDB_BEATS)
    # bxb counts the escape beats e, j (AAMI N) as S and / f (AAMI Q) as Q; everything else agrees
    differ = {s for s in BEAT_SYMBOLS if S.EC57_CLASS[s] != AAMI[s]}
    assert differ == {"e", "j"}


def test_bxb_statistics_of_a_binary_and_a_four_class_annotation():
    ref = list("NNNAVVF")
    binary = S.scheme(TASKS["binary"])
    written = [binary.symbol(c) for c in (0, 0, 1, 1, 1, 0, 1)]       # one N false alarm, one V missed
    st = S.bxb_statistics(ref, written)
    assert st["counts"]["Nq"] == 1 and st["counts"]["Vq"] == 1 and st["counts"]["Vn"] == 1
    assert st["veb_se"] == 0 and st["veb_ppv"] is None and st["sveb_se"] == 0 and st["sveb_ppv"] is None
    four = S.scheme(("N", "S", "V", "F"))
    written = [four.symbol(c) for c in (0, 0, 2, 1, 2, 2, 3)]           # an N called V, the rest right
    st = S.bxb_statistics(ref, written)
    assert st["veb_se"] == 1 and st["veb_ppv"] == 2 / 3 and st["sveb_se"] == 1 and st["sveb_ppv"] == 1
    with pytest.raises(TernEcgError, match="pairs must match"):
        S.bxb_statistics(ref, written[:-1])
    with pytest.raises(TernEcgError, match="not WFDB beat symbols"):
        S.bxb_statistics(["+"], ["N"])
