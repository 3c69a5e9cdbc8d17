"""Getting sealed packets to recipients exactly once: pull and receipts, push, key rotation,
retention, the scheduled jobs, metrics.

Uses network, audit and the pure layers.
"""
