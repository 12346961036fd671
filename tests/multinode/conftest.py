"""The multi-node environment: PostgreSQL + Redis + S3 (moto) + SMTP + two ``plugdesk serve`` nodes + nginx.

One cluster per test package run (it takes about 5 s to start); tests that stop a server start it again
before they end, so the next test finds the cluster whole. See ``cluster.py`` and docs/deployment.md.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.multinode.cluster import Cluster, start_cluster


@pytest.fixture(scope="package")
def cluster() -> Iterator[Cluster]:
    """A running cluster; ``cluster.url`` is nginx, ``cluster.node_urls`` the two nodes."""
    for tool in ("redis-server", "/usr/sbin/nginx"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed; the README test line installs it")
    root = Path(tempfile.mkdtemp(prefix="plugdesk-cluster-"))
    os.chmod(root, 0o755)
    running = start_cluster(root)
    yield running
    running.close()
    if not os.environ.get("KEEP_TEST_CLUSTER"):  # set it to read the node logs after a failure
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def healthy_cluster(cluster: Cluster) -> Cluster:
    """The cluster, with every server up and both nodes answering ``/healthz`` (repaired if a test broke it)."""
    for server in (cluster.postgres, cluster.redis, *cluster.nodes):
        if server.proc is None or server.proc.poll() is not None:
            server.start()
    cluster.wait_healthy()
    return cluster
