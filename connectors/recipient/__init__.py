"""The recipient side: pull or receive pushed packets, open, store each report once, receipt, trust
the hub's keys, set up a member.

Uses readings, countries and the connectors' base; the push receiver alone speaks HTTP here.
"""
