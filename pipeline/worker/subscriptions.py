"""The worker's agents: they subscribe the input topics, so faust assigns their partitions.

The records themselves reach the worker through the batch input (pipeline.worker.batch_input)
a fetch at a time; an agent only handles a record faust would deliver itself, which does not
happen while the batch input is installed, by handing it to the same tasks' queues.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

import faust

from pipeline.worker.batch_input import Batch, InputRecord, TaskOf


async def _batches(
    stream: faust.StreamT[Any], batch_max: int, within: float
) -> AsyncIterator[list[faust.EventT[Any]]]:
    """The stream's events in lists of up to ``batch_max`` (one by one when it is 1)."""
    if batch_max <= 1:
        async for event in stream.events():
            yield [event]
        return
    batches = cast("faust.Stream[Any]", stream).take_events(  # StreamT's stub lacks it
        batch_max, within=within
    )
    async for events in batches:
        yield list(events)


def _as_batch(events: Sequence[faust.EventT[Any]], task_of: TaskOf) -> Batch:
    batch: Batch = {}
    for event in events:
        message = event.message
        batch.setdefault(task_of(message.topic, message.partition), []).append(
            InputRecord(message.topic, message.partition, message.offset, event.value)
        )
    return batch


def subscribe(
    app: faust.App,
    agents: Mapping[str, faust.TopicT],
    *,
    task_of: TaskOf,
    handle: Callable[[Batch], Awaitable[None]],
    batch_max: int,
    within: float,
) -> None:
    """One agent per name in ``agents``, subscribing its topic(s) and handing what it gets to
    ``handle``."""
    for name, topic in agents.items():

        async def agent(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
            async for events in _batches(stream, batch_max, within):
                await handle(_as_batch(events, task_of))
                yield None

        app.agent(topic, name=name)(agent)
