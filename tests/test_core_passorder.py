"""jug.engine.passorder: definition order alone; after a collision, a random point of what is left."""

from __future__ import annotations

import random

from jug.engine.passorder import PassOrder


def test_without_collisions_the_order_is_the_definition_order() -> None:
    assert list(PassOrder(range(10))) == list(range(10))


def test_a_collision_jumps_but_every_item_is_still_tried_once() -> None:
    order = PassOrder(range(100), random.Random(1))
    seen = []
    for x in order:
        seen.append(x)
        if x == 0:
            order.collided()
    assert sorted(seen) == list(range(100))
    assert seen[1] != 1 and order.jumps == 1  # it did not just take the neighbour's next task


def test_finding_finished_items_asks_for_a_new_listing_now_and_then() -> None:
    order = PassOrder(range(10_000), known_finished=2_000)
    answers = [order.found_finished() for _ in range(120)]
    assert answers.count(True) == 2 and answers[59] and not answers[58]  # every 12,000/200
