"""Flowkit's parallel processing example in pocketflow-ext.

Flowkit fans out to three batch tasks and merges them; here too: ``fetch_data >> [...]``
runs the three tasks at once (a Parallel group, docs/parallel.md) and ``[...] >>
aggregate_results`` joins them. The batch form of @task (``batch=``) shows the
map-over-items alternative.
"""

from pocketflow_ext import Flow, task


@task()
def fetch_data():
    """Fetch initial dataset."""
    return list(range(1000))


@task(reads={"data": "fetch_data"})
def process_batch_1(data):
    """Process first batch."""
    return sum(list(data)[:333])


@task(reads={"data": "fetch_data"})
def process_batch_2(data):
    """Process second batch."""
    return sum(list(data)[333:666])


@task(reads={"data": "fetch_data"})
def process_batch_3(data):
    """Process third batch."""
    return sum(list(data)[666:])


@task(
    reads={
        "data": "fetch_data",
        "b1": "process_batch_1",
        "b2": "process_batch_2",
        "b3": "process_batch_3",
    }
)
def aggregate_results(data, b1, b2, b3):
    """Combine all results."""
    total = b1 + b2 + b3
    return f"Total: {total}"


# The same sums as one batch task: the function runs once per slice.
@task(batch="part", reads={"part": "slices"}, writes="batch_sums")
def sum_slice(part, fetch_data):
    return sum(fetch_data[part[0] : part[1]])


batches = [process_batch_1, process_batch_2, process_batch_3]
fetch_data >> batches
batches >> aggregate_results
pipeline = Flow(start=fetch_data, flow_name="parallel_processing")

if __name__ == "__main__":
    results = {}
    pipeline.run(results)
    print(results["aggregate_results"])
    batch = {"fetch_data": results["fetch_data"], "slices": [(0, 333), (333, 666), (666, 1000)]}
    Flow(start=sum_slice.clone()).run(batch)
    print("batch form:", f"Total: {sum(batch['batch_sums'])}", batch["batch_sums"])
