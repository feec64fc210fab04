"""A witness: polls a log's signed tree head, checks it extends the last one it saw, co-signs.

:func:`judge` is the pure decision. :class:`Witness` is the polling glue (HTTP via urllib); it
keeps the last head it co-signed in a JSON state file, so a restarted witness still holds the
log to its past. An inconsistent head (a split view or a rewrite) is refused: never co-signed,
logged as an error, counted, and appended with its evidence to a JSON-lines report file. The
witness then keeps polling and keeps refusing until the log returns to a consistent head.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pipeline.transparency import merkle
from pipeline.transparency.heads import TreeHead, check_head, cosign, sign_refusal
from pipeline.transparency.keys import key_id
from pipeline.transparency.metrics import WitnessMetrics

log = structlog.get_logger("ledger.witness")

CONSISTENT, INCONSISTENT, BAD_SIGNATURE, UNREACHABLE = (
    "consistent",
    "inconsistent",
    "bad_signature",
    "unreachable",
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The witness's decision on one head."""

    result: str
    message: str

    @property
    def accepted(self) -> bool:
        """True when the head may be co-signed."""
        return self.result == CONSISTENT


def judge(
    last: TreeHead | None, new: TreeHead, log_key: Ed25519PublicKey, proof: list[bytes]
) -> Verdict:
    """Should a witness that co-signed ``last`` co-sign ``new``? ``proof`` is last -> new.

    >>> from pipeline.transparency.keys import generate_private_key
    >>> from pipeline.transparency.heads import sign_head
    >>> key = generate_private_key()
    >>> a, b = sign_head(key, 5, 1, bytes(32)), sign_head(key, 5, 2, bytes([1]) * 32)
    >>> judge(a, b, key.public_key(), []).message
    'split view: two heads of size 5 with different roots'
    """
    if (problem := check_head(new, log_key)) is not None:
        return Verdict(BAD_SIGNATURE, f"refused: {problem}")
    if last is None:
        return Verdict(CONSISTENT, f"first head seen, size {new.tree_size}")
    if last.tree_size == 0:
        return Verdict(CONSISTENT, f"size 0 -> {new.tree_size}: the empty tree is every prefix")
    if new.tree_size < last.tree_size:
        return Verdict(
            INCONSISTENT,
            f"rollback: the log shrank from {last.tree_size} to {new.tree_size} entries",
        )
    if new.tree_size == last.tree_size:
        if new.root != last.root:
            return Verdict(
                INCONSISTENT, f"split view: two heads of size {new.tree_size} with different roots"
            )
        return Verdict(CONSISTENT, f"same tree of size {new.tree_size}")
    if not merkle.verify_consistency(last.tree_size, new.tree_size, last.root, new.root, proof):
        return Verdict(
            INCONSISTENT,
            f"rewrite or split view: head of size {new.tree_size} does not extend the head of "
            f"size {last.tree_size} (consistency proof fails)",
        )
    return Verdict(CONSISTENT, f"size {last.tree_size} -> {new.tree_size} consistent")


class Witness:
    """Polls one log, co-signs consistent heads, refuses and reports the others."""

    def __init__(
        self,
        log_url: str,
        log_key: Ed25519PublicKey,
        witness_key: Ed25519PrivateKey,
        state_file: Path,
        report_file: Path,
        metrics: WitnessMetrics,
        timeout_s: float = 10.0,
    ) -> None:
        self.log_url = log_url.rstrip("/")
        self.log_key, self.log_key_id = log_key, key_id(log_key)
        self.witness_key, self.state_file, self.report_file = witness_key, state_file, report_file
        self.metrics, self.timeout_s = metrics, timeout_s
        self.last = self._load_state()

    def _load_state(self) -> TreeHead | None:
        if not self.state_file.exists():
            return None
        state = json.loads(self.state_file.read_text())
        if state.get("log_key_id") != self.log_key_id:
            raise ValueError(
                f"state file {self.state_file} belongs to log key {state.get('log_key_id')}, "
                f"not {self.log_key_id}; use one state file per log"
            )
        return TreeHead.from_dict(state["head"])

    def _save_state(self, head: TreeHead) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"log_key_id": self.log_key_id, "head": head.to_dict()}))
        os.replace(tmp, self.state_file)  # atomic: a crash leaves the old or the new state

    def _get(self, path: str, **query: int) -> Any:
        url = f"{self.log_url}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
            return json.load(response)

    def poll(self) -> Verdict:
        """Fetch the latest head, judge it, co-sign or report."""
        try:
            body = self._get("/ledger/v1/head")
            new = TreeHead.from_dict(body["head"])
            proof: list[bytes] = []
            last = self.last
            if last is not None and 0 < last.tree_size < new.tree_size:
                raw = self._get(
                    "/ledger/v1/proof/consistency", first=last.tree_size, second=new.tree_size
                )
                proof = [base64.b64decode(p) for p in raw["consistency"]]
        except (OSError, ValueError, KeyError) as exc:
            self.metrics.checks.labels(UNREACHABLE).inc()
            log.warning("witness_log_unreachable", url=self.log_url, error=str(exc))
            return Verdict(UNREACHABLE, str(exc))
        verdict = judge(self.last, new, self.log_key, proof)
        self.metrics.checks.labels(verdict.result).inc()
        if not verdict.accepted:
            self._report(verdict, new, proof)
            return verdict
        self._cosign(new)
        return verdict

    def _post(self, path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(
            f"{self.log_url}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s):
                pass
        except (OSError, urllib.error.HTTPError) as exc:
            log.warning("witness_statement_not_delivered", path=path, error=str(exc))

    def _cosign(self, head: TreeHead) -> None:
        cosig = cosign(self.witness_key, self.log_key_id, head)
        self._post("/ledger/v1/cosignatures", cosig.to_dict())
        self.last = head
        self._save_state(head)
        self.metrics.head_size.set(head.tree_size)
        self.metrics.head_timestamp.set(head.timestamp_ms / 1000)
        log.info("witness_cosigned", tree_size=head.tree_size, root=head.root.hex())

    def _report(self, verdict: Verdict, head: TreeHead, proof: list[bytes]) -> None:
        evidence = {
            "at": time.time(),
            "log": self.log_url,
            "result": verdict.result,
            "message": verdict.message,
            "last_cosigned_head": None if self.last is None else self.last.to_dict(),
            "refused_head": head.to_dict(),
            "consistency_proof": [base64.b64encode(p).decode() for p in proof],
        }
        with self.report_file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(evidence) + "\n")
        log.error("witness_refused_head", reason=verdict.message, tree_size=head.tree_size)
        # Also hand the signed refusal to the log, which serves it to status pages. A dishonest
        # log can drop it; the local report above is the evidence that does not depend on it.
        refusal = sign_refusal(self.witness_key, self.log_key_id, head, verdict.message)
        self._post("/ledger/v1/refusals", refusal.to_dict())
