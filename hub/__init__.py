"""The central router: intake, routing, sealing, delivery, receipts."""
