"""Index membership over time: as-of lookups, merges, spells, and A-share code spellings."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.core.errors import DataUnavailable, InvalidArgument, NotFound
from quantdesk.data.catalog import Catalog
from quantdesk.data.ids import cn_order_book_id, normalize_id
from quantdesk.data.index_members import Composition, check_composition, compositions_from_spells
from quantdesk.data.index_store import IndexMembership

D = dt.date
CSI = "000300.XSHG"


def store(root: Path, *comps: Composition) -> IndexMembership:
    members = IndexMembership(root)
    members.merge([check_composition(c, Catalog.check_id) for c in comps])
    return members


@pytest.mark.parametrize(
    ("text", "index", "want"),
    [
        ("600000.SH", False, "600000.XSHG"),
        ("000001.SZ", False, "000001.XSHE"),
        ("430047.BJ", False, "430047.BJSE"),
        ("sh.600000", False, "600000.XSHG"),
        ("sz000002", False, "000002.XSHE"),
        ("600519", False, "600519.XSHG"),
        ("300750", False, "300750.XSHE"),
        ("920001", False, "920001.BJSE"),
        ("510300", False, "510300.XSHG"),
        ("1", False, "000001.XSHE"),
        ("000300", True, "000300.XSHG"),
        ("399006", True, "399006.XSHE"),
        ("300", True, "000300.XSHG"),
        ("000905.XSHG", True, "000905.XSHG"),
    ],
)
def test_a_share_code_spellings_become_order_book_ids(text: str, index: bool, want: str) -> None:
    assert cn_order_book_id(text, index=index) == want


def test_other_ids_stay_as_they_are_and_bad_codes_are_refused() -> None:
    assert normalize_id(" AAPL ") == "AAPL" and normalize_id("^GSPC") == "^GSPC"
    with pytest.raises(InvalidArgument, match="not an A-share code"):
        cn_order_book_id("AAPL")


def test_the_composition_in_effect_is_the_latest_dated_on_or_before_the_day(
    tmp_path: Path,
) -> None:
    members = store(
        tmp_path,
        Composition(CSI, D(2020, 1, 2), ("B", "A"), (60.0, 40.0)),
        Composition(CSI, D(2020, 6, 15), ("A", "C")),
    )
    first = members.composition_on(CSI, D(2020, 6, 14))
    assert (first.date, first.order_book_ids, first.weights) == (
        D(2020, 1, 2), ("A", "B"), (40.0, 60.0),
    )  # fmt: skip
    later = members.composition_on(CSI, D(2030, 1, 1))
    assert (later.date, later.order_book_ids, later.weights) == (D(2020, 6, 15), ("A", "C"), None)
    assert members.composition_on(CSI, D(2020, 6, 15)).order_book_ids == ("A", "C")
    with pytest.raises(DataUnavailable, match="known from 2020-01-02"):
        members.composition_on(CSI, D(2020, 1, 1))
    with pytest.raises(NotFound, match=r"000905\.XSHG.*000300\.XSHG"):
        members.composition_on("000905.XSHG", D(2020, 1, 1))


def test_a_merge_replaces_compositions_of_the_same_date_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    members = store(
        tmp_path,
        Composition(CSI, D(2020, 1, 2), ("A", "B")),
        Composition(CSI, D(2020, 6, 15), ("A", "C")),
        Composition("000016.XSHG", D(2020, 1, 2), ("A",)),
    )
    report = members.merge([Composition(CSI, D(2020, 6, 15), ("D",)),
                            Composition(CSI, D(2021, 1, 4), ("E",))])  # fmt: skip
    assert report.as_dict()[CSI] == {"added": 1, "replaced": 1, "first": "2020-06-15",
                                     "last": "2021-01-04"}  # fmt: skip
    fresh = IndexMembership(tmp_path)  # another process reads what was written
    assert [c.order_book_ids for c in fresh.compositions(CSI)] == [("A", "B"), ("D",), ("E",)]
    assert fresh.composition_on("000016.XSHG", D(2025, 1, 1)).order_book_ids == ("A",)
    summary = {s.index_id: s for s in fresh.indexes()}
    assert (summary[CSI].compositions, summary[CSI].members, summary[CSI].first_date) == (
        3, 1, D(2020, 1, 2),
    )  # fmt: skip
    assert [(c.date, c.added, c.removed) for c in fresh.changes(CSI, D(2020, 7, 1))] == [
        (D(2020, 6, 15), ("D",), ("A", "B")),
        (D(2021, 1, 4), ("E",), ("D",)),
    ]


def test_a_dry_run_merge_writes_nothing(tmp_path: Path) -> None:
    members = IndexMembership(tmp_path)
    report = members.merge([Composition(CSI, D(2020, 1, 2), ("A",))], dry_run=True)
    assert report.as_dict()[CSI]["added"] == 1
    assert not members.path.exists()


def test_a_composition_is_checked() -> None:
    with pytest.raises(InvalidArgument, match="listed twice: A"):
        check_composition(Composition(CSI, D(2020, 1, 2), ("A", "B", "A")), Catalog.check_id)
    with pytest.raises(InvalidArgument, match="weight of B is -1"):
        check_composition(Composition(CSI, D(2020, 1, 2), ("A", "B"), (1.0, -1.0)),
                          Catalog.check_id)  # fmt: skip
    with pytest.raises(InvalidArgument, match="invalid order_book_id"):
        check_composition(Composition(CSI, D(2020, 1, 2), ("../etc",)), Catalog.check_id)


def test_spells_that_all_end_leave_an_empty_composition(tmp_path: Path) -> None:
    comps = compositions_from_spells(CSI, [("A", D(2020, 1, 2), D(2020, 3, 31)),
                                           ("B", D(2020, 2, 3), D(2020, 3, 31))])  # fmt: skip
    assert [(c.date, c.order_book_ids) for c in comps] == [
        (D(2020, 1, 2), ("A",)), (D(2020, 2, 3), ("A", "B")), (D(2020, 4, 1), ()),
    ]  # fmt: skip
    members = store(tmp_path, *comps)
    assert members.composition_on(CSI, D(2021, 1, 1)).order_book_ids == ()
    assert members.indexes()[0].members == 0
    with pytest.raises(InvalidArgument, match="overlap"):
        compositions_from_spells(CSI, [("A", D(2020, 1, 2), None), ("A", D(2020, 5, 1), None)])


_DAYS = st.integers(min_value=0, max_value=400).map(lambda n: D(2020, 1, 1) + dt.timedelta(n))


@st.composite
def spell_sets(draw: st.DrawFn) -> list[tuple[str, dt.date, dt.date | None]]:
    """Non-overlapping spells of up to 6 members."""
    out: list[tuple[str, dt.date, dt.date | None]] = []
    for oid in draw(st.lists(st.sampled_from("ABCDEF"), min_size=1, max_size=6, unique=True)):
        cuts = sorted(draw(st.lists(_DAYS, min_size=1, max_size=6, unique=True)))
        open_last = draw(st.booleans())
        pairs = list(zip(cuts[0::2], cuts[1::2], strict=False))
        out.extend((oid, a, b) for a, b in pairs)
        if len(cuts) % 2 == 1:
            out.append((oid, cuts[-1], None if open_last else cuts[-1]))
    return out


@settings(max_examples=60, deadline=None)
@given(spells=spell_sets(), probe=_DAYS)
def test_spells_round_trip_and_agree_with_as_of_lookups(
    tmp_path_factory: pytest.TempPathFactory,
    spells: list[tuple[str, dt.date, dt.date | None]],
    probe: dt.date,
) -> None:
    members = store(tmp_path_factory.mktemp("m"), *compositions_from_spells(CSI, spells))
    stored = members.spells(CSI)
    # the same stays, with touching stays of a member joined into one
    assert _days_in(stored) == _days_in(spells)
    first = min(s for _, s, _ in spells)
    if probe >= first:
        want = sorted({o for o, s, e in spells if s <= probe and (e is None or probe <= e)})
        assert list(members.composition_on(CSI, probe).order_book_ids) == want


def _days_in(spells: list[tuple[str, dt.date, dt.date | None]]) -> set[tuple[str, dt.date]]:
    horizon = D(2021, 3, 1)
    return {
        (oid, start + dt.timedelta(n))
        for oid, start, end in spells
        for n in range(((end or horizon) - start).days + 1)
    }


def test_a_series_built_from_an_older_file_is_not_kept_for_a_newer_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a thread re-reading the file while another built an index's series made
    the old series stick to the new file until it changed again."""
    members = store(tmp_path, Composition(CSI, D(2020, 1, 2), ("A",)))
    writer = IndexMembership(tmp_path)
    build = IndexMembership._build

    def racing_build(frame: Any, index_id: str) -> Any:
        writer.merge([Composition(CSI, D(2020, 1, 2), ("B",))])  # another process writes
        reader = threading.Thread(target=members.frame)  # another API thread reads
        reader.start()
        reader.join(0.3)
        result = build(frame, index_id)
        monkeypatch.setattr(IndexMembership, "_build", staticmethod(build))
        threads.append(reader)
        return result

    threads: list[threading.Thread] = []
    monkeypatch.setattr(IndexMembership, "_build", staticmethod(racing_build))
    members.composition_on(CSI, D(2021, 1, 1))  # built while the file changed
    for thread in threads:
        thread.join()
    assert members.composition_on(CSI, D(2021, 1, 1)).order_book_ids == ("B",)
