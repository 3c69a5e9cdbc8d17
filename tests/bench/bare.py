"""The framework's ceiling: a bare FastAPI endpoint that only validates the same report model."""

from __future__ import annotations

from fastapi import FastAPI

from schemas.report import Report

app = FastAPI()


@app.post("/v1/reports", status_code=202)
def submit(report: Report) -> dict[str, str]:
    return {"report_id": str(report.report_id)}


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
