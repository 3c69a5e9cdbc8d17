"""The central router: intake, routing, sealing, delivery, receipts; one package per capability.

Capabilities use the pure layers beside them (crypto, store, settings, errors, logs); only http and
cli speak to the outside.
"""
