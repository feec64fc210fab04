"""faust's Kafka transport with a consumer that reads committed records only.

faust reads ``read_committed`` only under its own ``processing_guarantee="exactly_once"``,
whose transactions do not fit the worker (see docs/reliability.md, "Exactly-once output").
The worker's transactions are its own (:mod:`pipeline.worker.delivery`), so every faust app
of the pipeline (worker, notifier) uses this transport instead: records of an aborted
transaction (a worker killed mid-batch, a fenced zombie) are never seen, neither by the
agents nor by table recovery from a changelog.

With ``offsets_in_transactions`` the consumer also leaves committing offsets to those
transactions: faust still tracks what was acknowledged (it is what the progress view shows),
but a plain offset commit racing a transaction's could move the group's offset back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import faust
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

READ_COMMITTED = "read_committed"


class ReadCommittedConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: driver.Transport) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka takes the isolation level at construction and applies it at start().
        consumer._isolation_level = READ_COMMITTED
        return consumer


class ReadCommittedConsumer(driver.Consumer):
    offsets_in_transactions: ClassVar[bool] = False

    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        if self.offsets_in_transactions:
            return True  # already committed, each inside the transaction of its outputs
        committed: bool = await super()._commit(offsets)
        return committed


class TransactionalOffsetsConsumer(ReadCommittedConsumer):
    offsets_in_transactions = True


class ReadCommittedTransport(driver.Transport):
    Consumer = ReadCommittedConsumer


class TransactionalOffsetsTransport(driver.Transport):
    Consumer = TransactionalOffsetsConsumer


def use_read_committed(app: faust.App, *, offsets_in_transactions: bool = False) -> None:
    """Give ``app`` the read-committed transport; call before anything touches its consumer."""
    transport = TransactionalOffsetsTransport if offsets_in_transactions else ReadCommittedTransport
    app.transport = transport(app.conf.broker_consumer, app)
