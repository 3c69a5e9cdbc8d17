"""The tamper-evident audit log: events, the records each step writes, signed tree heads, Merkle
proofs, verification.

Uses the pure layers only (and the connectors' hub-key trust to verify); the records take plain
values and import no capability.
"""
