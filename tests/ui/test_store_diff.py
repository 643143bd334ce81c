"""Store diffs between checkpoints: added, changed, removed, in a stable order."""

from __future__ import annotations

from pocketflow_ext.ui.store_diff import diff_stores


def test_diff_reports_added_changed_and_removed_keys() -> None:
    before = {"a": 1, "b": [1, 2], "gone": "x"}
    after = {"a": 1, "b": [1, 3], "new": (1, 2)}
    changes = [(c.key, c.change) for c in diff_stores(before, after)]
    assert changes == [("b", "changed"), ("new", "added"), ("gone", "removed")]


def test_diff_tells_a_tuple_from_a_list_with_the_same_items() -> None:
    assert [c.change for c in diff_stores({"t": [1, 2]}, {"t": (1, 2)})] == ["changed"]


def test_identical_stores_have_no_changes() -> None:
    assert diff_stores({"a": {"b": 1}}, {"a": {"b": 1}}) == []
