"""Accepting a report from a source: check, route, seal per recipient, acknowledge; and the per-
source rate limit.

Uses delivery, network, audit and the pure layers.
"""
