"""Flowkit's ETL pipeline in pocketflow-ext: @task functions chained with >>, offline.

Flowkit passes each task's result to the next; here each function's parameters are read
from the shared store by name (``reads=`` maps a parameter to another key) and its
result is written under its own name. The API call is a local stand-in, and its result
is cached in the run store: run the script twice and the second run reads it from there.
"""

import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from pocketflow_ext import Flow, task

FETCHED = []  # what the stand-in API was asked for (to show the cache at work)


def api_get():
    """Stands in for requests.get("https://api.example.com/data").json()."""
    FETCHED.append("GET /data")
    return [{"id": 1, "value": 10}, {"id": 2, "value": 20}, {"id": 3, "value": 30}]


@task(retries=3, delay=0.01, cache=True)
def extract_from_api():
    """Extract data from API."""
    return api_get()


@task(reads={"raw_data": "extract_from_api"})
def transform_data(raw_data):
    """Clean and transform data."""
    stamp = datetime(2026, 1, 1, tzinfo=timezone.utc)  # fixed, so the output is repeatable
    return [{"id": item["id"], "value": item["value"] * 2, "timestamp": stamp} for item in raw_data]


DATABASE = []


@task(reads={"transformed_data": "transform_data"})
def load_to_database(transformed_data):
    """Load data into database."""
    DATABASE.extend(transformed_data)
    return f"Loaded {len(transformed_data)} records"


@task(reads={"result": "load_to_database"})
def send_notification(result):
    """Notify completion."""
    print(f"ETL completed: {result}")
    return "Notification sent"


extract_from_api >> transform_data >> load_to_database >> send_notification


def main(workdir: Path) -> None:
    pipeline = Flow(start=extract_from_api, flow_name="etl_pipeline", db_path=workdir / "etl.db")
    results = {}
    pipeline.run(results)
    print({k: results[k] for k in ("load_to_database", "send_notification")})
    print("API calls:", len(FETCHED))
    if "--twice" in sys.argv:  # the second run takes the extract from the cache
        again = {}
        pipeline.run(again)
        print("second run API calls:", len(FETCHED), "same result:", again == results)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:  # runs and cache entries go to etl.db here
        main(Path(tmp))
