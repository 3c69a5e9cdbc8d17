"""The HTTP API: the app, one router per area, shared dependencies, the authorization table,
middleware, the dashboard.

May use every capability; the only hub package that imports FastAPI or Starlette, with the command
line.
"""
