"""What the network's coordinators and sources see of it: quality criteria, compliance, delivery
figures, feedback.

Uses onboarding and every capability beneath it, the country calendars of the connectors, and the
pure layers.
"""
