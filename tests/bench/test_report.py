"""The bench's table: each target of issue 18 beside the figure it bounds, met or not."""

from __future__ import annotations

import argparse
from typing import Any

from tests.bench.__main__ import TARGETS, compare_engines, derive, table


def figures(intake: float) -> dict[str, Any]:
    """One engine's raw figures, as the measurements write them."""
    return {
        "bare_rps": 1000.0,
        "seal_per_s": 20000.0,
        "intake_rps_small": intake,
        "intake_rps_large": intake * 0.95,
        "intake_p50_ms_small": 150.0,
        "intake_p99_ms_small": 300.0,
        "intake_cpu_ms_small": 6.0,
        "intake_two_rps": intake * 1.5,
        "intake_two_cpu_ms": 6.5,
        "e2e_p50_ms": 20.0,
        "e2e_p99_ms": 200.0,
        "e2e_low_p50_ms": 5.0,
        "e2e_low_p99_ms": 40.0,
        "drain_small_per_s": 300.0,
        "drain_large_per_s": 400.0,
        "drain_large_cpu_ms": 2.7,
        "drain_small_peak_rss_mb": 160.0,
        "drain_large_peak_rss_mb": 165.0,
        "claim_p50_ms_small": 3.0,
        "claim_p50_ms_large": 3.1,
    }


def report(results: dict[str, dict[str, Any]]) -> str:
    for engine_figures in results.values():
        derive(engine_figures)
    compare_engines(results)
    args = argparse.Namespace(
        rate=100, rate_low=50, drain=2000, stored_small=1000, stored_large=5000
    )
    return table(results, args)


def test_every_target_is_printed_with_its_bound_and_whether_the_run_met_it() -> None:
    printed = report({"sqlite": figures(200.0), "postgresql": figures(100.0)})
    lines = printed.splitlines()
    for target in TARGETS:
        for engine in target.engines:
            row = next(line for line in lines if f"{target.label} [{engine}]" in line)
            assert row.rstrip().endswith(f"{target.op} {target.bound:g}"), row
    assert "  met     intake / bare FastAPI, one process [sqlite]: 0.20 >= 0.3" not in printed
    assert "  NOT MET intake / bare FastAPI, one process [sqlite]: 0.20 >= 0.3" in printed
    assert "  NOT MET PostgreSQL intake / SQLite intake [postgresql]: 0.50 >= 0.8" in printed
    assert "  met     end-to-end p99 ms at --rate, 4 push recipients [sqlite]: 200.00 <= 250" in (
        printed
    )
    assert "  NOT MET CPU ms per accepted report, one process [sqlite]: 6.00 <= 2.5" in printed
    assert "two hub processes / ceiling" in printed
    assert "CPU ms per delivery" in printed


def test_a_ratio_between_engines_is_not_printed_when_one_engine_did_not_run() -> None:
    printed = report({"postgresql": figures(100.0)})
    assert "PostgreSQL intake / SQLite intake" not in printed
    assert "intake / bare FastAPI, one process [postgresql]: 0.10 >= 0.3" in printed
