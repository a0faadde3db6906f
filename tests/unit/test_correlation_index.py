"""The bounded candidate index: slot names, bound, order, windows."""

from __future__ import annotations

from triage.correlation import SlotIndex, entity_slots, slot


def test_slot_names_cannot_collide_whatever_the_values() -> None:
    assert slot("prod", "a/b") != slot("prod/a", "b")
    assert slot('p"', "x") == '["p\\"","x"]'
    assert entity_slots("prod", {"b", "a"}) == ('["prod","a"]', '["prod","b"]')


def test_a_slot_keeps_only_its_most_recently_active_incidents() -> None:
    index = SlotIndex(slot_size=2)
    index.touch(["s"], "old", 1.0)
    index.touch(["s"], "mid", 2.0)
    index.touch(["s"], "new", 3.0)
    assert index.read("s", since=0.0) == ["new", "mid"]
    index.touch(["s"], "mid", 4.0)  # activity moves it up, never down
    index.touch(["s"], "mid", 0.5)
    assert index.read("s", since=0.0) == ["mid", "new"]


def test_read_skips_entries_older_than_since() -> None:
    index = SlotIndex(slot_size=5)
    index.touch(["s", "t"], "a", 10.0)
    index.touch(["s"], "b", 20.0)
    assert index.read("s", since=15.0) == ["b"]
    assert index.read("t", since=15.0) == []
    assert index.read("nope", since=0.0) == []


def test_remove_drops_empty_slots() -> None:
    index = SlotIndex(slot_size=5)
    index.touch(["s", "t"], "a", 1.0)
    index.remove(["s", "t", "u"], "a")
    assert len(index) == 0
