"""The order in which a worker tries its pending tasks during one pass.

Alone, a worker goes in definition order.  Workers started together would all go in the same
order and collide on every task: each finds the next task locked by, or just finished by, its
neighbour, and pays a lock attempt (a file create, or a Redis round trip) for nothing.  So when
it finds a task locked by another worker, a worker jumps to a random point of what it has left
(wrapping around: every task is still tried once per pass), and the workers spread over the
list.  A task found already finished means the worker's list of finished tasks (read at the
start of the pass) is stale: after a number of such finds that costs about as much as reading
the listing again, the worker reads it again (:meth:`PassOrder.found_finished`).
"""

from __future__ import annotations

import random
from collections import deque
from typing import Generic, Iterable, Iterator, TypeVar

T = TypeVar("T")


class PassOrder(Generic[T]):
    """Iterate over ``items`` once; :meth:`collided` moves on to a random item of the rest."""

    def __init__(self, items: Iterable[T], rng: random.Random | None = None,
                 known_finished: int = 0) -> None:
        self._todo: deque[T] = deque(items)
        self._rng = rng or random.Random()
        self.jumps = 0
        # a listing costs ~0.5 us per result, a wasted claim ~50 us: re-read after n/200 finds
        self._reread_after = max(16, (len(self._todo) + known_finished) // 200)
        self._finds = 0

    def __iter__(self) -> Iterator[T]:
        while self._todo:
            yield self._todo.popleft()

    def __len__(self) -> int:
        return len(self._todo)

    def found_finished(self) -> bool:
        """The last item was finished by another worker; True: time to re-read the listing."""
        self._finds += 1
        if self._finds < self._reread_after:
            return False
        self._finds = 0
        return True

    def collided(self) -> None:
        """Another worker holds the last item: continue from a random point."""
        if len(self._todo) > 1:
            self._todo.rotate(-self._rng.randrange(len(self._todo)))
            self.jumps += 1
