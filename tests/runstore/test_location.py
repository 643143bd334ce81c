"""Which locations name a PostgreSQL server, and how a location is shown: never with a
password, whatever form the URL takes."""

from __future__ import annotations

import pytest

from pocketflow_ext.runstore.location import is_url, masked, scrubbed


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/runs", "postgresql://app:***@db:5432/runs"),
        ("postgres://app:s3cret@db/runs?sslmode=require", "postgres://app:***@db/runs?sslmode=require"),
        ("postgresql://app:p%40ss@db/runs", "postgresql://app:***@db/runs"),
        ("postgresql://app@db/runs?password=s3cret&sslmode=verify-full", "postgresql://app@db/runs?password=***&sslmode=verify-full"),
        ("postgresql://db?password=s3cret", "postgresql://db?password=***"),
        ("host=db password=s3cret dbname=runs", "host=db password=*** dbname=runs"),
        ("host=db password='s3 cret' dbname=runs", "host=db password=*** dbname=runs"),
        ("postgresql://app@db/runs", "postgresql://app@db/runs"),
        ("runs/pocketflow.db", "runs/pocketflow.db"),
    ],
)  # fmt: skip
def test_masked_hides_every_password(location: str, shown: str) -> None:
    assert masked(location) == shown


@pytest.mark.parametrize(
    ("location", "url"),
    [
        ("postgresql://db/runs", True),
        ("POSTGRES://db/runs", True),
        ("host=db dbname=runs", True),
        ("dbname=runs", True),
        ("runs.db", False),
        ("notes=1.db", False),  # not a libpq keyword: a file name
        ("./host=db", False),
    ],
)
def test_is_url_tells_servers_from_files(location: str, url: bool) -> None:
    assert is_url(location) is url


def test_scrubbed_removes_the_password_from_a_drivers_message() -> None:
    url = "postgresql://app:p%40ss@db/runs"
    assert scrubbed("auth failed for p@ss and p%40ss", url) == "auth failed for *** and ***"
