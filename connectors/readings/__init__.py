"""A report made readable: text and HTML rendering, the printable PDF, translations of its codes.

Uses the connectors' errors and the schemas only.
"""
