"""Under pytest-xdist: every worker gets its share of a conversation suite at once.

xdist's `load` mode hands a worker a few items at a time and more as it reports them, which
suits tests that take CPU. A conversation test waits on model latency instead, and each worker
runs all the items it holds concurrently; so when every collected item is a simulation unit
test, the items are shared out at once, one message per worker. Sessions that mix in other
tests keep xdist's own scheduling.
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadScheduling

from ..suite.discovery import matches


class SuiteLoadScheduling(LoadScheduling):  # type: ignore[misc]
    collection: list[str] | None  # LoadScheduling's: the node ids all workers collected
    maxschedchunk: int | None  # LoadScheduling's: --maxschedchunk, or its own default

    def __init__(self, config: Any, log: Any, patterns: list[str]) -> None:
        super().__init__(config, log)
        self.patterns = patterns

    def schedule(self) -> None:
        if self.collection is not None or not self._only_suite_items():
            super().schedule()
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        # One message per worker with its whole share (xdist's first round would send a few
        # items first: the rest arrive after the worker has started its first runs).
        collection: list[str] = list(next(iter(self.node2collection.values())))
        self.collection = collection
        # As xdist's own first round does: a crashed worker's items go back to pending, and its
        # replacement gets them in chunks of at most this many.
        if self.maxschedchunk is None:
            self.maxschedchunk = len(collection)
        self.pending[:] = range(len(collection))
        share, extra = divmod(len(self.pending), len(self.nodes))
        for index, node in enumerate(list(self.nodes)):
            self._send_tests(node, share + (1 if index < extra else 0))
        for node in self.nodes:
            node.shutdown()

    def _only_suite_items(self) -> bool:
        collected: list[str] = next(iter(self.node2collection.values()), [])
        names = {nodeid.split("::", 1)[0].rsplit("/", 1)[-1] for nodeid in collected}
        return bool(names) and all(matches(name, self.patterns) for name in names)
