"""The member countries: their profiles, working-day calendars, and the shipped folders at/ be/ de/
nl/ int/.

Uses the connectors' errors and the schemas only.
"""
