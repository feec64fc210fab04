"""The ``atom`` channel: delivering a notice means adding its CAP alert to the feed."""

from __future__ import annotations

import asyncio

from pipeline.notices.channels.cap.config import AtomConfig
from pipeline.notices.channels.cap.feed import FeedStore
from pipeline.notices.notice import Notice


class AtomSender:
    def __init__(self, config: AtomConfig, store: FeedStore) -> None:
        self.config = config
        self.store = store

    async def send(self, notice: Notice) -> str:
        added = await asyncio.get_running_loop().run_in_executor(
            None,
            lambda: self.store.append(notice, sender=self.config.sender, keep=self.config.entries),
        )
        return "added to feed" if added else "already in feed"

    async def close(self) -> None:
        return None
