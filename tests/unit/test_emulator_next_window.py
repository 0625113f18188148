"""The emulator's 29 Next list pages walk the store from the cursor and copy only the page (issue 14, goal 7).

Counted, not timed: how many stored objects the filter looks at and which objects come back as copies.
"""
from emulator.next.state import NextState


def _state(count: int) -> NextState:
    state = NextState()
    for number in range(1, count + 1):
        state.subscriptions[number] = {"id": number, "status": "canceled" if number % 10 == 0 else "active"}
    return state


def _walk(state, **kwargs):
    seen = []

    def match(item):
        seen.append(item["id"])
        return kwargs.pop("only", None) is None or item["status"] == "active"

    found, more = state.window("subscriptions", match=match, size=50, **kwargs)
    return [item["id"] for item in found], more, seen


def test_first_page_looks_at_the_page_and_one_more_only():
    ids, more, seen = _walk(_state(10_000), position=None, ascending=False)
    assert ids == list(range(10_000, 9_950, -1)) and more
    assert len(seen) == 51


def test_cursor_starts_at_its_position_in_both_directions():
    state = _state(10_000)
    ids, more, seen = _walk(state, position=5_000, ascending=False)
    assert ids == list(range(4_999, 4_949, -1)) and more and len(seen) == 51
    ids, more, seen = _walk(state, position=9_980, ascending=True)
    assert ids == list(range(9_981, 10_001)) and not more and len(seen) == 20
    ids, more, _ = _walk(state, position=50, ascending=False)
    assert ids == list(range(49, 0, -1)) and not more


def test_results_are_copies_and_new_objects_are_found():
    state = _state(100)
    found, _ = state.window("subscriptions", position=None, ascending=False, match=lambda s: True, size=1)
    found[0]["status"] = "changed"
    assert state.subscriptions[100]["status"] == "canceled"
    state.subscriptions[101] = {"id": 101, "status": "active"}
    found, _ = state.window("subscriptions", position=None, ascending=False, match=lambda s: True, size=1)
    assert found[0]["id"] == 101


def test_filter_skips_without_counting_against_the_page():
    state = _state(200)
    found, more = state.window("subscriptions", position=None, ascending=False,
                               match=lambda s: s["status"] == "canceled", size=5)
    assert [s["id"] for s in found] == [200, 190, 180, 170, 160] and more


def test_orders_page_by_number():
    state = NextState()
    for number in (100003, 100001, 100002):
        state.orders[str(number)] = {"number": str(number)}
    found, more = state.window("orders", position=100003, ascending=False, match=lambda o: True, size=5)
    assert [o["number"] for o in found] == ["100002", "100001"] and not more
