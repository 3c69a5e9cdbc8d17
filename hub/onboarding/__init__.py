"""A member joining the network: registering its parties, test reports through intake, the checks
that delivery works.

Uses intake, delivery, network, audit and the pure layers.
"""
