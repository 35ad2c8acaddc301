"""Properties of the torrent list's pages: following `next` gives every
matching torrent once, in order, even when torrents arrive between pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from revaer_actors import listing
from revaer_actors.domain import TorrentRecord, TorrentState

BASE = datetime(2026, 1, 1, tzinfo=UTC)

records = st.builds(
    lambda n, name, progress, seconds, state: TorrentRecord(
        info_hash=f"{n:040x}",
        name=name,
        state=state,
        save_path="/downloads",
        added_at=BASE + timedelta(seconds=seconds),
        progress=progress,
    ),
    st.integers(1, 10**9),
    st.text(min_size=1, max_size=8),
    st.floats(0, 1),
    st.integers(0, 5),
    st.sampled_from([TorrentState.PAUSED, TorrentState.SEEDING]),
)
catalogs = st.lists(records, max_size=40, unique_by=lambda r: r.info_hash)


def _pages(
    catalog: list[TorrentRecord], params: dict[str, str], arrivals: list[TorrentRecord]
) -> list[str]:
    seen: list[str] = []
    current = list(catalog)
    cursor = None
    while True:
        query = listing.parse_query(
            {**params, **({"cursor": cursor} if cursor else {})}
        )
        shown, cursor = listing.page(current, query)
        assert len(shown) <= query.limit
        seen.extend(r.info_hash for r in shown)
        if arrivals:
            current.append(arrivals.pop())
        if cursor is None:
            return seen


@given(
    catalog=catalogs,
    limit=st.integers(1, 7),
    sort=st.sampled_from(listing.SORTS),
    order=st.sampled_from(listing.ORDERS),
)
def test_pages_give_each_torrent_once_in_order(
    catalog: list[TorrentRecord], limit: int, sort: str, order: str
) -> None:
    params = {"limit": str(limit), "sort": sort, "order": order}

    seen = _pages(catalog, params, [])

    expected = sorted(
        catalog, key=lambda r: listing.sort_key(r, sort), reverse=order == "desc"
    )
    assert seen == [r.info_hash for r in expected]


@given(catalog=catalogs, arrivals=catalogs, limit=st.integers(1, 5))
def test_arrivals_between_pages_never_repeat_or_hide_a_torrent(
    catalog: list[TorrentRecord], arrivals: list[TorrentRecord], limit: int
) -> None:
    known = {r.info_hash for r in catalog}
    newcomers = [r for r in arrivals if r.info_hash not in known]

    seen = _pages(catalog, {"limit": str(limit)}, newcomers)

    assert len(seen) == len(set(seen))
    assert known <= set(seen)


@given(catalog=catalogs, state=st.sampled_from([TorrentState.PAUSED, None]))
def test_filters_keep_exactly_the_matching_torrents(
    catalog: list[TorrentRecord], state: TorrentState | None
) -> None:
    params = {"limit": "500", **({"state": state.value} if state else {})}

    shown, cursor = listing.page(catalog, listing.parse_query(params))

    assert cursor is None
    assert {r.info_hash for r in shown} == {
        r.info_hash for r in catalog if state is None or r.state == state
    }
