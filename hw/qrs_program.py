"""The front end's programs for the micro-sequencer (hw/qrs_isa.py), written from the spec.

Three programs, assembled from the same readable pieces:

* :func:`detector_program` — the R-peak detector of docs/arithmetic.md section 9, step for step
  (the labels and comments name the spec's steps): raw samples in, R-peak indices out, at the
  same samples as :class:`ternecg.golden.qrs.QrsStream`, plus an end-of-record marker.
* :func:`rr_program` — the RR codes of section 6 / 10.2 over a stream of R peaks (the three
  interval codes; with ``irregular`` also the irregularity code).
* :func:`front_end_program` — the monitor's front end (section 10.4): the detector, the beats
  (windows inside the record), their RR codes one beat late (with ``template`` also the template
  code, computed over each beat's window when it is taken), and the hand-over of each beat's
  window (its 240 raw samples, from the history of the record's samples the program keeps) and
  of each decided beat to the accelerator.

Memory layout (cells of 32 bits, hw/qrs_isa.py): delay lines ``u a c e q m`` of 128 positions
each (lines 0..5, indexed by the sample position mod 128, so ``at("m", 60)`` is ``m[n - 60]`` with
``X = n``); ring tables of 32 entries (the candidate table: fields ``p r h s sh``; the RR unit's
intervals, and with the irregularity code their ``|delta pre|``; with the template code the
240-cell template in 8 fields, and with a template gate below 2^b its per-beat update in 8
more), an entry chosen by ``P``; the scalar registers in direct cells. Every cell a program
reads has been written since reset (the RAM has no initial contents): the record initialisation
clears the lines and the scalars.

The instruction-level model (hw/qrs_model.py) runs these programs against golden/qrs.py and
golden/monitor.py in tests/hw/test_qrs_program.py.
"""

from __future__ import annotations

from ternecg.golden.spec.normalize import RAW_BITS, mean_constants
from ternecg.golden.spec.qrs import QrsParams, qrs_params
from ternecg.golden.spec.rr import TEMPLATE_SCALE, TEMPLATE_SHIFT

from .qrs_isa import Asm, Program

__all__ = ["detector_program", "rr_program", "front_end_program", "MAX_RR_LOCAL", "MAX_RR_BITS"]

#: the RR unit keeps the last ``rr_local`` intervals in one 32-entry ring
MAX_RR_LOCAL = 32
#: half the beat window: a beat's window is ``r - HALF .. r + HALF - 1`` (golden/monitor.py)
HALF = 120
MAX_RR_BITS = 8
LINES = ("u", "a", "c", "e", "q", "m")
#: candidate table entry: position, R peak, height, slope, shallow (negative = shallow)
T_P, T_R, T_H, T_S, T_SH = range(5)


def _check_params(P: QrsParams):
    """The programs assume what the 360 Hz constants give (delay-line lags < 128, 7-bit offsets)."""
    assert P.u_line <= 120 + 8 and P.peak_half + P.refine_lo < 128, "u line longer than 128"
    assert P.mwi_len + P.peak_half < 128 and 2 * P.peak_half + 1 <= 128
    assert P.peak_half <= 63 and P.table <= 32, (P.peak_half, P.table)


class _Detector:
    """Emits the detector (section 9) into an :class:`Asm`.

    The candidate table is a 32-entry ring (fields ``p r h s sh``): entries ``thead .. thead +
    tcount - 1`` (mod 32, ``P`` values). A new candidate is written straight into the entry
    after the last one, so TABLE_ADD is ``tcount += 1``, and CLASSIFY / ACCEPT / NOISE read the
    candidate through ``P``. ``report`` is the label ACCEPT jumps to with the R peak in cell
    ``cr`` (a routine that returns with ``RET``)."""

    FIELDS = ("p", "r", "h", "s", "sh")

    def __init__(self, a: Asm, P: QrsParams):
        _check_params(P)
        self.a, self.P = a, P
        for name in LINES:
            a.new_line(name)
        a.ring("table", 5)
        a.var("x", "x0", "n", "t", "asum", "csum", "msum", "vmin", "phase", "mx", "spk", "npk",
              "rr", "have", "last_r", "ls2", "deadline", "tcount", "thead", "cr", "kind",
              "lo", "best", "b", "jc", "cnt", "bh", "bptr", "lptr", "lcnt", "rtv", "tmp",
              "floor", "inf", "rrmin", "rrmax")

    def f(self, name):
        """Pointer operand of field ``name`` of the table entry at ``P``."""
        return self.a.slot("table", self.FIELDS.index(name))

    # --- initialisation -------------------------------------------------------------------------
    def init(self):
        """Clear the lines and the scalar cells; set the constants and the registers whose
        initial value is not 0 (9.4: RR = RR0; the valley minimum empty)."""
        a, P = self.a, self.P
        a.comment("record start: clear the delay lines (the signal is 0 before the start) and")
        a.comment("the scalar cells (line 6: every position of X)")
        a.LDI(128).TAK().LDI(0)
        a.label("clr")
        for name in LINES:
            a.ST(a.at(name, 0))
        a.ST(a.scalars(0)).ADDX(1).DJNZ("clr")
        a.LDK(P.floor).ST("floor")
        a.comment("an empty valley minimum: above every m (m < 2^31 - 2^29, 9.6)")
        a.LDI(3).SHL(29).ST("inf").ST("vmin")
        a.LDK(P.rr_min).ST("rrmin").LDK(P.rr_max).ST("rrmax").LDK(P.rr_init).ST("rr")

    # --- per sample (9.2, 9.3 and the decisions of 9.4) ----------------------------------------
    def sample(self):
        """Subroutine ``sample``: the sample in cell ``x`` at position ``n``; then ``n += 1``."""
        a, P, f = self.a, self.P, self.f
        H, L3 = P.peak_half, P.mwi_len
        a.label("sample").LD("n").TAX()
        a.comment("u = x - x0").LD("x").SUB("x0").ST(a.at("u", 0))
        a.comment("a += u - u[n-L1]").ADD("asum").SUB(a.at("u", P.lp_len)).ST("asum").ST(a.at("a", 0))
        a.comment("c += a - a[n-L1]").ADD("csum").SUB(a.at("a", P.lp_len)).ST("csum").ST(a.at("c", 0))
        a.comment("d = c - c[n-K]").SUB(a.at("c", P.deriv_lag)).BGE("s_abs")
        a.ST("tmp").LDI(0).SUB("tmp")
        a.label("s_abs").comment("e = |d| >> S").SHR(P.e_shift).ST(a.at("e", 0))
        a.comment("q = pseudo-square(e)").PSQ().ST(a.at("q", 0))
        a.comment("m += q - q[n-L3]").ADD("msum").SUB(a.at("q", L3)).ST("msum").ST(a.at("m", 0))
        a.comment("position t = n - H decided now (none before n = H)")
        a.LD("n").ADDI(-H).BCC("s_end").ST("t")
        a.comment("9.3: m[t] > m[t-H .. t-1] (X moves left), m[t] >= m[t+1 .. t+H] (right);")
        a.comment("the neighbours t-1, t+1 first: only a local maximum needs the scans")
        a.LD(a.at("m", H)).CMP(a.at("m", H + 1)).BLE("s_nc").CMP(a.at("m", H - 1)).BLT("s_nc")
        a.LDI(H).TAK().LD(a.at("m", H))
        a.label("s_left").CMP(a.at("m", H + 1)).BLE("s_ncx").ADDX(-1).DJNZ("s_left")
        a.ADDX(H).LDI(H).TAK().LD(a.at("m", H))
        a.label("s_right").CMP(a.at("m", H - 1)).BLT("s_ncx").ADDX(1).DJNZ("s_right")
        a.ADDX(-H).JMP("s_cand")
        a.label("s_ncx").LD("n").TAX()
        a.label("s_nc").comment("not a candidate: the valley minimum takes m[t]")
        a.LD(a.at("m", H)).MIN("vmin").ST("vmin").JMP("s_tick")
        # --- a candidate at p = t, written into the slot after the table's last entry --------
        a.label("s_cand").LD("tcount").ADD("thead").TAP()
        a.comment("h = m[p], p = t").LD(a.at("m", H)).ST(f("h")).LD("t").ST(f("p"))
        a.comment("shallow = v > (h >> 3) + (h >> 4), kept as (h>>3)+(h>>4)-v < 0 (v = 0 if none)")
        a.LD("vmin").CMP("inf").BNE("s_v").LDI(0)
        a.label("s_v").ST("tmp").LD("inf").ST("vmin")
        a.LD(f("h")).SHR(3).ST(f("sh")).LD(f("h")).SHR(4).ADD(f("sh")).SUB("tmp").ST(f("sh"))
        a.comment("slope s = max e[max(p-L3+1, 0) .. p]")
        a.LD("t").CMPI(L3 - 1).BCC("s_sl1").LDI(L3 - 1)
        a.label("s_sl1").ADDI(1).TAK().LDI(0)
        a.label("s_slope").MAX(a.at("e", H)).ADDX(-1).DJNZ("s_slope")
        a.ST(f("s"))
        a.comment("R peak: the first j in [max(p-Rlo,0), max(p-Rhi,0)] with the largest |u[j] - b|")
        a.LD("t").ADDI(-P.refine_lo).BCS("s_lo").LDI(0)
        a.label("s_lo").ST("lo").TAX().LD(a.at("u", 0)).ST("b")
        a.LD("t").ADDI(-P.refine_hi).BCS("s_hi").LDI(0)
        a.label("s_hi").ST("tmp").SUB("lo").ADDI(1).ST("cnt").ST("jc").TAK()
        a.LD("tmp").TAX().LD(a.at("u", 0)).ADD("b").SHR(1).ST("b")
        a.comment("best starts at 0 with the first j: a larger |u[j] - b| moves it")
        a.LD("lo").TAX().LDI(0).ST("best")
        a.label("s_ref").LD(a.at("u", 0)).SUB("b").BGE("s_refa").ST("tmp").LDI(0).SUB("tmp")
        a.label("s_refa").CMP("best").BLE("s_refx").ST("best").STK("jc")
        a.label("s_refx").ADDX(1).DJNZ("s_ref")
        a.LD("lo").ADD("cnt").SUB("jc").ST(f("r")).LD("n").TAX()
        a.comment("9.4 CANDIDATE: in LEARN, M = max(M, h) and TABLE_ADD; in RUN, CLASSIFY")
        a.LD("phase").BNE("s_run").LD("mx").MAX(f("h")).ST("mx").JMP("s_add")
        a.label("s_run").CALL("classify").BEQ("s_tick")
        a.label("s_add").LD("tcount").ADDI(1).ST("tcount")
        # --- TICK(t) -------------------------------------------------------------------------
        a.label("s_tick").LD("phase").BNE("s_rtick")
        a.comment("TICK in LEARN: at t >= LEARN, RUN with SPK = M >> 1, NPK = M >> 3")
        a.LD("t").CMPI(P.learn).BCC("s_end")
        a.LDI(1).ST("phase").LD("mx").SHR(1).ST("spk").LD("mx").SHR(3).ST("npk")
        a.LD("t").CALL("deadline")
        a.comment("CLASSIFY the stored candidates in time order, in place: a dropped one is marked")
        a.comment("dead (h = 0 < F: never found by SEARCH), an ACCEPT removes the entries before it")
        a.LD("tcount").ST("lcnt").BEQ("s_end").LD("thead").ST("lptr")
        a.label("s_lrn").LD("lptr").TAP().CALL("classify").BNE("s_keep")
        a.LD("lptr").TAP().LDI(0).ST(f("h"))
        a.label("s_keep").LD("lptr").ADDI(1).ST("lptr").LD("lcnt").ADDI(-1).ST("lcnt").BNE("s_lrn")
        a.JMP("s_end")
        a.label("s_rtick").comment("TICK in RUN: while t >= deadline, SEARCH back")
        a.LD("t").SUB("deadline").BLT("s_end")
        self.thr1()
        a.SHR(1).MAX("floor").ST("lo")                      # lo = THR2 here
        a.comment("the best height bh: 0 while none (an eligible h >= THR2 >= F > 0)")
        a.LDI(0).ST("bh").LD("thead").TAP().LD("tcount").BEQ("s_sbnone").TAK()
        a.label("s_sb").LD(f("h")).CMP("lo").BLT("s_sbn").LD(f("sh")).BLT("s_sbn")
        a.CALL("rt").BNE("s_sbn")
        a.LD(f("h")).CMP("bh").BLE("s_sbn").ST("bh").STP("bptr")
        a.label("s_sbn").ADDP(1).DJNZ("s_sb")
        a.LD("bh").BEQ("s_sbnone")
        a.comment("ACCEPT(best, search-back), then the new deadline again")
        a.LD("bptr").TAP().LDI(1).ST("kind").CALL("accept").JMP("s_rtick")
        a.label("s_sbnone").comment("none: SPK, NPK decay by 1/4, new deadline, empty table")
        a.LD("spk").SHR(2).ST("tmp").LD("spk").SUB("tmp").ST("spk")
        a.LD("npk").SHR(2).ST("tmp").LD("npk").SUB("tmp").ST("npk")
        a.LD("t").CALL("deadline").LDI(0).ST("tcount")
        a.comment("n += 1; X = n (the history position of the next sample)")
        a.label("s_end").LD("n").ADDI(1).ST("n").TAX().RET()

    def thr1(self):
        """A = THR1 = max(NPK + ((SPK - NPK) >> 2), F)."""
        self.a.LD("spk").SUB("npk").SHR(2).ADD("npk").MAX("floor")

    def subroutines(self):
        a, P, f = self.a, self.P, self.f
        # deadline = A + RRLIM (a leaf) -----------------------------------------------------
        a.label("deadline").ADD("rr").ST("deadline").LD("rr").SHR(1).ADD("deadline")
        a.ST("deadline").RET()
        # rt: A = 1 if refr(c), 2 if twave(c) (and not refr), else 0 (a leaf) --------------
        a.label("rt").LD("have").BEQ("rt_0")
        a.LD(f("r")).SUB("last_r").CMPI(P.refractory).BLT("rt_1").CMPI(P.twave).BGE("rt_0")
        a.LD(f("s")).CMP("ls2").BGE("rt_0").LDI(2).RET()
        a.label("rt_1").LDI(1).RET()
        a.label("rt_0").LDI(0).RET()
        # CLASSIFY(c at P): returns A = 1 (and flags) when c goes into the table ------------
        a.label("classify")
        a.CALL("rt").CMPI(1).BEQ("cl_0").ST("rtv")
        a.comment("refr(c): ignored; h < THR1 or shallow: NOISE, TABLE_ADD")
        self.thr1()
        a.ST("tmp").LD(f("h")).CMP("tmp").BLT("cl_add").LD(f("sh")).BLT("cl_add")
        a.comment("T wave: NOISE only; else ACCEPT(c, regular)").LD("rtv").BNE("cl_noise")
        a.LDI(0).ST("kind").CALL("accept")
        a.label("cl_0").LDI(0).RET()
        a.label("cl_noise").CALL("noise").JMP("cl_0")
        a.label("cl_add").CALL("noise").LDI(1).RET()
        # NOISE(c) --------------------------------------------------------------------------
        a.label("noise").LD(f("h")).SUB("npk").SHR(3).ADD("npk").ST("npk").RET()
        # ACCEPT(c at P, kind): a leaf that ends in a jump to "report" (which returns) ------
        a.label("accept").LD("have").BEQ("ac_1")
        a.comment("RR += (clamp(r - last_r, RRMIN, RRMAX) - RR) >> 3")
        a.LD(f("r")).SUB("last_r").MAX("rrmin").MIN("rrmax").SUB("rr").SHR(3).ADD("rr").ST("rr")
        a.label("ac_1").comment("SPK: up by 1/16, down by 1/4 (search-back) or 1/8")
        a.LD(f("h")).SUB("spk").BLE("ac_2").SHR(4).JMP("ac_3")
        a.label("ac_2").SHR(2).ST("tmp").LD("kind").BNE("ac_s").LD("tmp").SHR(1).JMP("ac_3")
        a.label("ac_s").LD("tmp")
        a.label("ac_3").ADD("spk").ST("spk")
        a.LDI(1).ST("have").LD(f("r")).ST("last_r").ST("cr").LD(f("s")).SHR(1).ST("ls2")
        a.comment("deadline = p + RRLIM").LD(f("p")).ST("lo").CALL("deadline")
        a.comment("remove the table entries with p <= c.p (a prefix: the head moves)")
        a.LD("thead").TAP().LD("tcount").BEQ("report").TAK()
        a.label("ac_rm1").LD(f("p")).SUB("lo").BGT("ac_rm").ADDP(1).DJNZ("ac_rm1")
        a.label("ac_rm").STP("thead").STK("tcount")
        a.JMP("report")


class _RR:
    """Emits the RR codes of section 6 over a record's beats (section 10.2) into an :class:`Asm`.

    ``take``: beat ``A`` (its R-peak sample) is the record's next beat; when there is a previous
    beat it is decided (its post interval is now known) by ``decide``, which computes its three
    codes (one more with ``template``, one more with ``irregular``) and jumps to the label
    ``beat`` with the beat in cell ``rc`` and the codes packed in cell ``acc`` (code ``f`` in
    bits ``f*b .. f*b + b - 1``). ``last``
    decides the final beat with post = pre (a lone beat: every interval code 2^(b-1), the
    irregularity code 0). Everything is exact in integers: the intervals and ``W`` are unsigned
    32-bit cells (exact while the ``rr_local`` beats of a local mean span less than 2^32 samples,
    the range of the 32-bit sample positions), ``num = x * K`` is a two-cell product, and a code
    is ``b + 1`` steps of a restoring divider whose remainder stays below ``den`` (one cell and
    the carry flag).

    ``template`` (config ``rr_template``): the template code of beat ``rc``, which
    :class:`_Template` left in cell ``tcode`` when the beat's window was taken, is packed as code
    3 (the irregularity code moves to code 4: golden/spec/rr.py ``feature_names``).

    ``irregular`` (config ``rr_irregular``): also the irregularity code of section 6, code 3 (4
    with ``template``) = code(4 D, W) with ``D`` the sum of the last ``K`` values ``d = |pre -
    the previous beat's pre|`` (``d = 0`` for beat 0, whose pre is its post): the ``d`` in a
    second field of the ring, ``D`` a two-cell sum (``dsh``, ``ds``: exact, though ``D`` may pass
    2^32 where ``W`` does not), and ``num = 4 D`` by two doublings that carry ``D``'s top bits
    into ``nh``."""

    def __init__(self, a: Asm, *, local: int, bits: int, irregular: bool = False,
                 template: bool = False):
        if not 1 <= local <= MAX_RR_LOCAL:
            raise ValueError(f"rr_local {local}: the RR unit keeps at most {MAX_RR_LOCAL} intervals")
        if not 1 <= bits <= MAX_RR_BITS:
            raise ValueError(f"rr_bits {bits}: 1..{MAX_RR_BITS}")
        self.a, self.N, self.b, self.irregular = a, local, bits, bool(irregular)
        self.template = bool(template)
        a.ring("rr", 1)
        a.var("nb", "rc", "rp", "rn", "pre", "post", "W", "kk", "rwp", "d", "nl", "nh", "tl",
              "q", "acc", "mk", "t2")
        if self.irregular:
            a.ring("rrd", 1)
            a.var("pp", "dp", "ds", "dsh")
        if self.template:
            a.var("tcode")

    @property
    def codes(self) -> int:
        """Codes per beat: 3, one more with the template code, one more with the irregularity
        code."""
        return 3 + self.template + self.irregular

    def lone(self) -> int:
        """The packed codes of a lone beat (every ratio 1: code 2^(b-1); the template code (the
        first beat's is 0) and the irregularity code are 0)."""
        return sum((1 << (self.b - 1)) << (f * self.b) for f in range(3))

    def emit(self, beat_label: str, on_take=None):
        """``on_take()`` emits code run for every taken beat (its R peak in cell ``rn``) after
        the previous beat was decided."""
        a, N, b = self.a, self.N, self.b
        cmax = (1 << b) - 1
        # take(A = r) -------------------------------------------------------------------------
        a.label("take").ST("rn").LD("nb").BEQ("tk_1")
        a.comment("the previous beat is decided: post = r - r_prev; pre = post for beat 0")
        a.LD("rn").SUB("rc").ST("post").LD("nb").CMPI(1).BNE("tk_p").LD("post")
        if self.irregular:
            a.comment("beat 0: the previous pre is its pre too (d = 0)").ST("pp")
        a.JMP("tk_0")
        a.label("tk_p").LD("rc").SUB("rp")
        a.label("tk_0").ST("pre").CALL("decide")
        a.label("tk_1")
        if on_take is not None:
            on_take()
        a.LD("rc").ST("rp").LD("rn").ST("rc").LD("nb").ADDI(1).ST("nb").RET()
        # last: decide the final beat with post = pre (a lone beat: 2^(b-1) each) ------------
        a.label("last").LD("nb").BEQ("rr_ret").CMPI(1).BNE("ls_p")
        a.LDK(self.lone()).ST("acc").JMP(beat_label)
        a.label("ls_p").LD("rc").SUB("rp").ST("pre").ST("post").JMP("decide")
        # decide(pre, post) for beat rc --------------------------------------------------------
        a.label("decide")
        if self.irregular:
            a.comment("d = |pre - pp| (unsigned: C = pre >= pp), pp the previous beat's pre")
            a.LD("pre").SUB("pp").BCS("dc_d").LD("pp").SUB("pre")
            a.label("dc_d").comment("D += d: D = the last K d, the two-cell sum (dsh, ds)")
            a.ST("dp").ADD("ds").ST("ds").BCC("dc_e").LD("dsh").ADDI(1).ST("dsh")
            a.label("dc_e")
        a.comment("W = the last K pre intervals (K = min(k+1, N)): a 32-entry ring of them")
        a.LD("W").ADD("pre").ST("W").LD("rwp").TAP().LD("kk").CMPI(N).BCS("dc_full")
        a.ADDI(1).ST("kk").JMP("dc_w")
        a.label("dc_full").LD("W").SUB(a.slot("rr")).ST("W")
        if self.irregular:
            a.comment("D -= the d that leaves (a borrow out of ds takes 1 from dsh)")
            a.LD("ds").SUB(a.slot("rrd")).ST("ds").BCS("dc_w").LD("dsh").SUBI(1).ST("dsh")
        a.label("dc_w").LD("pre").ST(a.slot("rr"))
        if self.irregular:
            a.comment("pp = pre; the ring's second field keeps d").ST("pp").LD("dp").ST(a.slot("rrd"))
        a.LD("rwp").ADDI(1)
        if N < 32:
            a.CMPI(N).BNE("dc_x").LDI(0)
        a.label("dc_x").ST("rwp")
        if self.irregular:
            a.comment("r_3 = code(4 D, W): num = (nh, nl) = (dsh, ds) << 2 by two doublings,")
            a.LD("W").ST("d").comment("the carry of each (a top bit of ds) into nh = 2 nh + carry")
            a.LD("dsh").ADD("dsh").ST("nh").LD("ds").ADD("ds").ST("nl").BCC("dc_i1")
            a.LD("nh").ADDI(1).ST("nh")
            a.label("dc_i1").LD("nh").ADD("nh").ST("nh").LD("nl").ADD("nl").ST("nl").BCC("dc_i2")
            a.LD("nh").ADDI(1).ST("nh")
            a.label("dc_i2").CALL("code").ST("acc")
        first = not self.irregular                  # no code in acc yet
        if self.template:
            a.comment("r_3 = the template code of beat rc (cell tcode, computed when its window")
            a.comment("was taken, _Template)").LD("tcode")
            if first:
                a.ST("acc")
            else:
                a.CALL("pack")
            first = False
        a.comment("r_2 = code(post, pre), r_1 = code(post*K, W), r_0 = code(pre*K, W)")
        a.LD("pre").ST("d").LD("post").ST("nl").LDI(0).ST("nh").CALL("code")
        if first:
            a.ST("acc")
        else:
            a.CALL("pack")
        a.LD("W").ST("d").LD("post").CALL("mulk").CALL("code").CALL("pack")
        a.LD("pre").CALL("mulk").CALL("code").CALL("pack")
        a.JMP(beat_label)
        # pack: acc = acc << b | A -----------------------------------------------------------
        a.label("pack").ST("t2").LD("acc").SHL(b).ADD("t2").ST("acc").RET()
        # mulk: (nh, nl) = A * K by K additions (K <= 32) ----------------------------------
        a.label("mulk").ST("mk").LDI(0).ST("nl").ST("nh").LD("kk").TAK()
        a.label("ml").LD("nl").ADD("mk").ST("nl").LD("nh").BCC("ml_c").ADDI(1)
        a.label("ml_c").ST("nh").DJNZ("ml").RET()
        # code: A = min(floor((num * 2^b + den) / (2 den)), 2^b - 1), num = (nh, nl), den = d --
        a.label("code").LDI(0).ST("q")
        a.comment("num >= 2 den: the largest code; else the integer bit q0 and R = num - q0 den")
        a.comment("(the high word less the borrow: nh, or nh - 1 when the low word borrowed)")
        a.LD("nl").SUB("d").ST("tl").LD("nh").BCS("cd_h").SUBI(1).BCC("cd_f")
        a.label("cd_h").BNE("cd_max").LD("tl").CMP("d").BCS("cd_max").ST("nl").LDI(1).ST("q")
        a.label("cd_f").LDI(b).TAK()
        a.label("cd_l").comment("R = 2R (the carry is its bit 32); one quotient bit")
        a.LD("nl").ADD("nl").BCS("cd_1").CMP("d").BCC("cd_0")
        a.label("cd_1").SUB("d").ST("nl").LD("q").ADD("q").ADDI(1).ST("q").JMP("cd_n")
        a.label("cd_0").ST("nl").LD("q").ADD("q").ST("q")
        a.label("cd_n").DJNZ("cd_l")
        a.comment("q = q0 q1 .. qb: the code is (q + 1) >> 1, at most 2^b - 1")
        a.LD("q").ADDI(1).SHR(1).CMPI(cmax).BLT("cd_r")
        a.label("cd_max").LDI(cmax)
        a.label("cd_r")
        a.label("rr_ret").RET()


class _Template:
    """Emits the template code of section 6 (golden/spec/rr.py :class:`Template`, config
    ``rr_template``) into an :class:`Asm`: the subroutine ``template``, called when beat ``rn``'s
    window is taken (after the previous beat's decision), leaves the beat's code in cell
    ``tcode`` for ``decide`` (:class:`_RR` with ``template``) and updates the record's template.

    Over the window ``x[t] = history[r - 120 + t]``, ``t = 0 .. 239``:

    * ``mean = (sum(x) * MEAN_MUL) >> MEAN_SHIFT``: the sum in ``A`` (240 additions), the
      product by the shifts and additions of ``MEAN_MUL``'s bits (``sum * MEAN_MUL`` <
      240 * 2047 * 4369 < 2^31: positive, so the arithmetic ``SHR`` is the floor);
    * ``w[t] = (x[t] - mean) << 4``; the record's first beat (``nb = 0``): ``T = w``, code 0;
    * otherwise ``D = sum |w - T|`` and ``S = sum |T|``, each as the sum of its positive and of
      its negative terms (two cells each, no negation); ``code(D, max(1, S))`` by the RR codes'
      ``code`` subroutine; then ``T += (w - T) >> 3`` if ``code < gate``.

    ``T`` is 240 cells of the ring: ``T[t]`` in field ``t // 32`` of the ring ``tpl`` (8 fields),
    entry ``t mod 32`` (the loops step ``X`` and ``P`` together, one loop per field). With
    ``gate = 2^b`` (every beat updates) the update is in the same loop as ``D`` and ``S``; with
    a smaller gate the loop keeps ``w - T`` in the 8 fields of a second ring ``tdf`` and a second
    loop applies it when the code is below the gate.

    Bounds: ``|x - mean| <= 2047``, so ``|w| < 2^15``; ``T`` stays between the smallest and the
    largest ``w`` it averaged (``T + ((w - T) >> 3)`` lies between ``T`` and ``w``), so
    ``|T| < 2^15`` and ``|w - T| < 2^16``: ``S < 240 * 2^15 < 2^23`` and ``D < 240 * 2^16 < 2^24``
    (and ``D << b < 2^32``): one cell each, and each signed partial sum too."""

    FIELDS = -(-2 * HALF // 32)                 # 8 fields of 32 entries: 256 >= 240 cells

    def __init__(self, a: Asm, *, bits: int, gate: int | None = None):
        gate = (1 << bits) if gate is None else gate
        if not 1 <= gate <= 1 << bits:
            raise ValueError(f"rr_template_gate {gate}: 1..{1 << bits} (2^rr_bits)")
        mul, shift = mean_constants(2 * HALF)
        assert 2 * HALF * ((1 << RAW_BITS) - 1) * mul < 1 << 31, "the mean's product passes 2^31"
        self.a, self.b, self.gate, self.mul, self.shift = a, bits, gate, mul, shift
        self.fused = gate >= 1 << bits             # every code is below the gate
        a.ring("tpl", self.FIELDS)
        if not self.fused:
            a.ring("tdf", self.FIELDS)
        a.var("tx", "tsum", "tmean", "tdiff", "tdp", "tdn", "tsp", "tsn")

    def _loop(self, tag: str, body):
        """``body(f)`` for ``t = 0 .. 239`` with ``X = tx + t``, ``P = t mod 32`` and ``f = t //
        32`` (the ring field of ``T[t]``): one loop over ``P`` per field."""
        a = self.a
        a.LD("tx").TAX().LDI(0).TAP()
        for f in range(self.FIELDS):
            a.LDI(min(32, 2 * HALF - 32 * f)).TAK()
            a.label(f"{tag}{f}")
            body(f)
            a.ADDX(1).ADDP(1).DJNZ(f"{tag}{f}")

    def w(self):
        """A = w[t] = (x[t] - mean) << TEMPLATE_SCALE."""
        self.a.LD(self.a.history()).SUB("tmean").SHL(TEMPLATE_SCALE)

    def emit(self):
        a, T = self.a, (lambda f: self.a.slot("tpl", f))
        a.label("template")
        a.comment("template code (golden/spec/rr.py Template): mean = (sum x * MEAN_MUL) >> 20")
        a.LD("rn").ADDI(-HALF).ST("tx").TAX().LDI(2 * HALF).TAK().LDI(0)
        a.label("tm_sum").ADD(a.history()).ADDX(1).DJNZ("tm_sum")
        a.ST("tsum")
        bits = bin(self.mul)[3:]                    # after the leading 1: Horner over the bits
        a.comment(f"sum * {self.mul}: shifts and additions")
        shift = 0
        for bit in bits:
            shift += 1
            if bit == "1":
                a.SHL(shift).ADD("tsum")
                shift = 0
        if shift:
            a.SHL(shift)
        a.SHR(self.shift).ST("tmean")
        a.LD("nb").BNE("tm_run")
        a.comment("the record's first beat: T = w (its code is 0)")

        def first(f):
            self.w()
            a.ST(T(f))
        self._loop("tm_w", first)
        a.LDI(0).ST("tcode").RET()
        a.label("tm_run").comment("D = tdp - tdn = sum |w - T|, S = tsp - tsn = sum |T|")
        a.LDI(0).ST("tdp").ST("tdn").ST("tsp").ST("tsn")

        def distance(f):
            self.w()
            a.SUB(T(f))
            if self.fused:
                a.ST("tdiff")
            else:
                a.ST(a.slot("tdf", f))
            a.BLT(f"tm_dn{f}").ADD("tdp").ST("tdp").JMP(f"tm_s{f}")
            a.label(f"tm_dn{f}").ADD("tdn").ST("tdn")
            a.label(f"tm_s{f}").LD(T(f)).BLT(f"tm_sn{f}").ADD("tsp").ST("tsp").JMP(f"tm_u{f}")
            a.label(f"tm_sn{f}").ADD("tsn").ST("tsn")
            a.label(f"tm_u{f}")
            if self.fused:
                a.comment("T += (w - T) >> 3 (every code is below the gate 2^b)")
                a.LD("tdiff").SHR(TEMPLATE_SHIFT).ADD(T(f)).ST(T(f))
        self._loop("tm_d", distance)
        a.comment("code(D, max(1, S)) as the RR codes' (num = (nh, nl) = (0, D), den = d = S)")
        a.LD("tsp").SUB("tsn").BNE("tm_s").LDI(1)
        a.label("tm_s").ST("d").LD("tdp").SUB("tdn").ST("nl").LDI(0).ST("nh").CALL("code")
        a.ST("tcode")
        if not self.fused:
            a.comment(f"T += (w - T) >> 3 if the code is below the gate {self.gate}")
            a.CMPI(self.gate).BGE("tm_ret")

            def update(f):
                a.LD(a.slot("tdf", f)).SHR(TEMPLATE_SHIFT).ADD(T(f)).ST(T(f))
            self._loop("tm_t", update)
        a.label("tm_ret").RET()


def _detector_asm(P: QrsParams, name: str) -> tuple[Asm, _Detector]:
    a = Asm(name)
    return a, _Detector(a, P)


def detector_program(fs: int = 360) -> Program:
    """The standalone detector: input port 0 = raw samples (``last`` on a record's final
    sample); output stream ``peaks``: ``value`` (A: the R peak, 32 bits) and the field ``end``
    (1): one transfer per R peak at the sample that decides it (as :class:`~ternecg.golden.qrs.QrsStream`), and after a record's
    final sample, the flush of 9.5 (peaks inside the record only) then an end marker
    ``{index: record length, end: 1}``."""
    P = qrs_params(fs)
    a, det = _detector_asm(P, "qrs_detector")
    a.out_fields = [("end", 1)]
    a.out_streams = [("peaks", ["end"])]
    a.in_ports = [("samples", 11)]
    a.var("nrec", "fcnt")
    a.label("reset")
    a.label("record")
    det.init()
    a.comment("9.2: x0 is the record's first sample").IN(0).ST("x").ST("x0").JMP("main_x")
    a.label("main").IN(0).ST("x")
    a.label("main_x").CALL("sample").BF("end").JMP("main")
    a.label("end").comment("9.5: flush with Rlo + H copies of the last sample")
    a.LD("n").ST("nrec").LDI(P.flush).ST("fcnt")
    a.label("flush").CALL("sample").LD("fcnt").ADDI(-1).ST("fcnt").BNE("flush")
    a.LDI(1).OUT(0).LD("nrec").SEND().LDI(0).OUT(0).JMP("record")
    a.label("report").comment("peaks r >= record length found by the flush are dropped")
    a.LD("nrec").BEQ("rp_out").LD("cr").SUB("nrec").BGE("rp_skip")
    a.label("rp_out").LD("cr").SEND()
    a.label("rp_skip").RET()
    det.sample()
    det.subroutines()
    return a.assemble()


def rr_program(*, local: int = 8, bits: int = 4, irregular: bool = False) -> Program:
    """The standalone RR unit: input port 0 = R peaks (``data`` = sample index; a transfer with
    ``last`` set is the end-of-record marker, its ``data`` passed on); output stream ``codes``:
    ``value`` (the peak, 32 bits), the fields ``codes`` (``3 * bits``; ``4 * bits`` with
    ``irregular``: the irregularity code in bits ``3 * bits .. 4 * bits - 1``) and ``end`` (1):
    one transfer per peak with its codes,
    one peak late (the next peak gives the post interval), the last one at the marker (post =
    pre), then the marker ``{value: its data, codes: 0, end: 1}``. The RR sequence is every peak received
    (a caller that drops peaks drops them before)."""
    a = Asm("rr_unit")
    rr = _RR(a, local=local, bits=bits, irregular=irregular)
    a.out_fields = [("codes", rr.codes * bits), ("end", 1)]
    a.out_streams = [("codes", ["codes", "end"])]
    a.in_ports = [("peaks", 32)]
    a.var("tmp", "mark")
    a.label("record").LDI(128).TAK().LDI(0)
    a.label("clr").ST(a.scalars(0)).ADDX(1).DJNZ("clr")
    a.label("main").IN(0).BF("end").CALL("take").JMP("main")
    a.label("end").ST("mark").CALL("last")
    a.LDI(0).OUT(0).LDI(1).OUT(1).LD("mark").SEND().LDI(0).OUT(1).JMP("record")
    a.label("beat").LD("acc").OUT(0).LD("rc").SEND().RET()
    rr.emit("beat")
    return a.assemble()


#: the front end's output streams: decided beats ``{index, codes}``, window samples
#: ``{value: sample | last << 11}``
STREAM_BEAT, STREAM_WINDOW = 0, 1
#: the ``last`` flag of a window sample (bit 11 of the stream's value)
WINDOW_LAST = 1 << 11


def front_end_program(*, local: int = 8, bits: int = 4, irregular: bool = False,
                      template: bool = False, template_gate: int | None = None,
                      fs: int = 360) -> Program:
    """The monitor's front end (docs/arithmetic.md 10.4) on one sequencer.

    Input port 0: the record's raw samples in order (``last`` on a record's final sample), read
    out of the input ring (hw/sample_ring.py), so that this program may fall behind the input
    while a send waits. Each sample also goes into the program's history (the last 2,048 samples
    of the record). Two output streams: for every beat (a detection whose window lies inside the
    record), when its window has arrived, first the previous beat's decision on ``beats``
    (``value``: its R peak; the field ``codes``: ``(3 + template + irregular) * bits``, the
    template code as code 3 and the irregularity code in the top ``bits``), then on ``windows``
    the window's 240 raw samples ``x[r - 120 .. r + 119]`` from the history (``value``: the
    sample, with :data:`WINDOW_LAST` on the last one); at the end of a record the flush of 9.5
    (its samples stay out of the history), and the last beat's decision (post = pre).

    ``template`` (config ``rr_template``): after sending a beat's window, the program computes
    the beat's template code over it (:class:`_Template`; ``template_gate``: config
    ``rr_template_gate``, 1 .. 2^bits, None = 2^bits: every beat updates the template). Without
    it the program is the one without the option, word for word."""
    P = qrs_params(fs)
    a, det = _detector_asm(P, "front_end")
    rr = _RR(a, local=local, bits=bits, irregular=irregular, template=template)
    tm = _Template(a, bits=bits, gate=template_gate) if template else None
    a.out_fields = [("codes", rr.codes * bits)]
    a.out_streams = [("beats", ["codes"]), ("windows", [])]
    a.in_ports = [("samples", 11)]
    a.var("nrec", "fcnt", "wait")
    a.label("record")
    det.init()
    a.comment("9.2: x0 is the record's first sample; the history position X = n = 0")
    a.LDI(0).TAX().IN(0).ST("x0").JMP("main_x")
    a.label("main").IN(0)
    a.label("main_x").ST("x").ST(a.history()).CALL("take_check").CALL("sample").BF("end").JMP("main")
    a.label("end").comment("10.4: flush the detector; the last beat is decided with post = pre")
    a.LD("n").ST("nrec").LDI(P.flush).ST("fcnt")
    a.label("flush").CALL("sample").LD("fcnt").ADDI(-1).ST("fcnt").BNE("flush")
    a.CALL("last").JMP("record")
    a.label("report").comment("10.1: a detection with r < 120 is not a beat (nrec > 0: flushing)")
    a.LD("cr").ADDI(-HALF).BCC("rp_r").LD("nrec").BEQ("rp_w")
    a.comment("in the flush: a beat if its window ends inside the record, taken at once")
    a.SUB("cr").ADDI(-HALF).BLT("rp_r").LD("cr").JMP("take")
    a.label("rp_w").LD("cr").ST("wait")
    a.label("take_check").comment("10.4 step 2: the waiting detection's window is complete")
    a.comment("(wait = 0: none; a waiting detection has r >= 120)")
    a.LD("wait").BEQ("rp_r").LD("n").SUB("wait").ADDI(-(HALF - 1)).BLT("rp_r")
    a.LD("wait").ST("rn").LDI(0).ST("wait").LD("rn").JMP("take")
    a.label("rp_r").RET()

    def on_take():
        a.comment("WINDOW: x[r - 120 .. r + 119] from the history, the last one flagged")
        a.LD("rn").ADDI(-HALF).TAX().LDI(2 * HALF - 1).TAK()
        a.label("wnd").LD(a.history()).SEND(STREAM_WINDOW).ADDX(1).DJNZ("wnd")
        a.LD(a.history()).ADDI(WINDOW_LAST - 1).ADDI(1).SEND(STREAM_WINDOW)
        if tm is not None:
            a.comment("the beat's template code into tcode (decided with the beat)").CALL("template")

    a.label("beat").LD("acc").OUT(0).LD("rc").SEND(STREAM_BEAT).RET()
    rr.emit("beat", on_take)
    det.sample()
    det.subroutines()
    if tm is not None:
        tm.emit()
    return a.assemble()
