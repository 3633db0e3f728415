"""The schedule compiler's search (hw/schedule_search.py): the geometry of each lane count (the
fewest streams that reach the bound ratio target, a narrower lane count's where every geometry
misses it), and the tools that take cycles off a plan without changing that geometry (depthwise
blocks of whole groups, convs split by position, depthwise streams on one channel's positions).
What the chosen schedules compute is checked in tests/hw/test_schedule.py."""

from ternecg.hw import schedule as sc
from ternecg.hw import schedule_search as search


def test_geometry_choice(model):
    """One lane is one stream, one memory per bank; the compiler takes the fewest streams that
    reach the ratio target; every lane count up to MAX_PARALLEL compiles."""
    g = sc.compile_schedule(model, 1).geometry
    assert (g.streams, g.lanes, g.mems) == (1, 1, 1)
    for p in (2, 3):
        assert sc.compile_schedule(model, p).streams == 1
    for p in (6, 36):
        g = sc.compile_schedule(model, p).geometry
        assert g.streams > 1 and g.mems >= g.streams and g.mems & (g.mems - 1) == 0
    assert sc.valid_parallel(model) == list(range(1, sc.MAX_PARALLEL + 1))


def test_a_lane_count_without_a_good_geometry_builds_a_narrower_ones(model):
    """A lane count whose own geometries all miss the ratio target (a prime P: P x 1 or 1 x P)
    builds the pick of a narrower lane count when that is faster with no more streams: P = 37 is
    P = 36's 6 x 6 lanes (2,881 cycles; 37 x 1 took 11,488), its reports count against 37 lanes;
    a lane count that meets its target (P = 36) or whose own pick is the fastest with its streams
    (P = 48: 8 x 6, where 45's 15 x 3 would be faster but twice the streams) builds its own."""
    lat = model.cfg.act_bits + 1
    s37, s36 = sc.compile_schedule(model, 37), sc.compile_schedule(model, 36)
    assert s37.geometry == s36.geometry and (s37.parallel, s37.lanes_asked, s37.adders) == (36, 37, 36)
    assert sc.cycles(s37, lat) == sc.cycles(s36, lat) == 2881
    assert sc.cycle_breakdown(s37, lat)["bound"] == round(model.cfg.macs / 37, 2)
    s48 = sc.compile_schedule(model, 48)
    assert (s48.streams, s48.lanes, s48.lanes_asked) == (8, 6, 48)
    own = search._best_plan(model, 37, 1)[0]                    # 37 x 1 as the plans count
    assert own > 3.9 * search._worst_cycles(model, *search.choose_geometry(model, 37))
    for p in (7, 11, 14):                                   # no narrower pick is faster: their own
        assert sc.compile_schedule(model, p).parallel == p


def test_splits_and_depthwise_positions_never_change_the_geometry(model):
    """Geometry and memories (the area) are chosen with one kind per conv; the splits and the
    depthwise streams on positions only take cycles off the plan on them."""
    extras = 0
    for p in range(1, 25):
        g, plain = search._plain_choice(model, p)
        geo, plan = search.choose_geometry(model, p)
        assert geo == g, p
        extras += plan != plain
    assert extras >= 6              # 7, 11, 13, 14, 15, 16, 17, 21 take cycles off that way


def test_blocks_of_whole_groups_never_change_the_geometry(model):
    """The geometry (streams, lanes, memories: the area) is chosen as with blocks of one group;
    the blocks of whole groups only take cycles off it (P = 48 stays 8 x 6: 16 x 3 would be
    faster with them but twice the logic)."""
    for p in (13, 32, 36, 48):
        s = sc.compile_schedule(model, p, read_stages=1)    # as the plans count (one read stage)
        plain = search._best_plan(model, s.streams, s.lanes, spanning=False)
        assert plain[1].streams == s.streams and sc.cycles(s, model.cfg.act_bits + 1) <= plain[0]
    assert (sc.compile_schedule(model, 48).streams, sc.compile_schedule(model, 48).lanes) == (8, 6)
