"""The portal side: a national form mapped to the common report, and its submission to the hub.

Uses countries and the connectors' base (config, client, errors).
"""
