"""Pyoco's hello example in pocketflow-ext: three @task functions and a console trace.

Pyoco wires inputs with ``task.inputs = {"data": "$node.fetch_data.output"}``; here
``reads={"data": "fetch_data"}`` says the same (each result is stored under its task's
name). The trace goes to stderr (``POCKETFLOW_EXT_TRACE=plain`` for CI-style lines).
"""

from pocketflow_ext import Flow, task


@task
def fetch_data():
    print(" Fetching data...")
    return {"id": 1, "value": "carrot"}


@task(reads={"data": "fetch_data"})
def process_data(data):
    print(f" Processing: {data['value']}")
    return data["value"].upper()


@task(reads={"result": "process_data"}, writes=())
def save_result(result):
    print(f" Saved: {result}")


fetch_data >> process_data >> save_result
flow = Flow(start=fetch_data, flow_name="hello_pyoco").trace()

if __name__ == "__main__":
    flow.run({})
