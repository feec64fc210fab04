"""A verifiable incident record: an append-only transparency log modelled on RFC 9162.

One concept per module: ``canonical`` (the byte encoding of records), ``merkle`` (tree hashing,
inclusion and consistency proofs), ``heads`` (Ed25519 signed tree heads and co-signatures),
``keys`` (loading signing keys), ``redaction`` (salted commitments per a policy file),
``store`` (SQLite storage behind a small protocol), ``records`` (Kafka records to log entries),
``writer`` (the Kafka-fed log writer), ``witness``, ``bundle`` (export and offline verify),
``api`` (HTTP), ``metrics``.
"""
