"""OpenTelemetry traces of a run, kept in memory and printed as a tree.

Swap the in-memory exporter for an OTLP one to send the same spans to Jaeger, Langfuse,
Phoenix, Honeycomb or Datadog; `pocketflow-ext run --otel` does that from OTEL_* variables.
"""

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pocketflow_ext import Flow, Node
from pocketflow_ext.subscribers.otel import OpenTelemetryTracer

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracer = OpenTelemetryTracer(provider)


class Plan(Node):
    max_retries = 2

    def exec(self, prep_res):
        if self.cur_retry == 0:
            raise TimeoutError("model timed out")
        return "outline"

    def post(self, shared, prep_res, exec_res):
        return "write"


class Write(Node):
    pass


class Polish(Node):
    pass


plan = Plan()
write_flow = Flow(start=Write(), flow_name="Writing")
write_flow.start_node >> Polish()
plan - "write" >> write_flow
Flow(start=plan, flow_name="essay").subscribe(tracer).run({})
tracer.flush()  # spans are built off the flow's thread; flush before reading them

spans = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time)
parents = {s.context.span_id: s for s in spans}


def depth(span):
    return 0 if span.parent is None else 1 + depth(parents[span.parent.span_id])


for span in spans:
    kind = span.attributes["pocketflow.kind"]
    extra = f" retries={len(span.events)}" if span.events else ""
    print(f"{'  ' * depth(span)}{span.name} [{kind}]{extra}")
print("one trace:", len({s.context.trace_id for s in spans}) == 1)
