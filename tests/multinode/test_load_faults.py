"""Load with faults through nginx: S3, Redis and PostgreSQL restarts and a node killed mid-upload.

The workload and the checks are in ``benchmarks/load_faults.py`` (also runnable on its own).
"""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from benchmarks.load_faults import run
from tests.multinode.cluster import Cluster

pytestmark = [pytest.mark.multinode, pytest.mark.slow]


def test_load_with_faults_loses_no_acknowledged_write_and_never_answers_500(healthy_cluster: Cluster) -> None:
    report = run(healthy_cluster, requests=400, customers=6, agents=2)
    print(json.dumps(asdict(report), indent=2))  # the counts, for the record (pytest -s)
    assert report.broken == [], report.broken
    assert report.requests == 400 and report.server_5xx_other == 0 and report.no_answer == 0
    assert report.writes_acknowledged > 100 and report.data_checked == report.writes_acknowledged
    assert report.unavailable_503 > 0, "the faults must have been felt (503 answers while S3 or PG were down)"
    assert len([f for f in report.faults if "FAILED" not in f and "ended before" not in f]) == 8, report.faults
    assert report.fsck_after_gc["problems"] == []
    assert healthy_cluster.sql("SELECT count(*) FROM blobs WHERE state <> 'stored' OR refcount <= 0") == [(0,)]


def test_the_report_carries_the_traceback_of_each_unhandled_error() -> None:
    from benchmarks.load_faults import unhandled_errors

    logs = "\n".join([
        json.dumps({"ts": "t1", "level": "INFO", "msg": "POST /api/v1/tickets 201"}),
        json.dumps({"ts": "t2", "level": "ERROR", "msg": "unhandled error on POST /x",
                    "exc": "Traceback (most recent call last):\nValueError: boom"}),
        "gunicorn text: unhandled error on GET /y",
    ])
    found = unhandled_errors(logs)
    assert len(found) == 2 and "ValueError: boom" in found[0] and found[1].endswith("GET /y")
