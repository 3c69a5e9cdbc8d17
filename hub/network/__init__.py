"""Who is in the network: the routing policy over its members, the directory of sources and
recipients, credentials, the hub's own keys.

Uses audit and the pure layers.
"""
