"""Mermaid and DOT pictures of a flow with a nested flow, named and wildcard edges.

Paste the Mermaid text into a Markdown file on GitHub; render the DOT with `dot -Tsvg`.
The same pictures for an unmodified script: `pocketflow-ext graph SCRIPT.py --format dot`.
"""

from pocketflow_ext import Flow, Node


class Draft(Node):
    pass


class Review(Node):
    pass


class Publish(Node):
    pass


class Escalate(Node):
    pass


draft, review = Draft(), Review()
draft - "review" >> review
review.then("approve", Publish()).then("revise", draft).then("*", Escalate())
editing = Flow(start=draft, flow_name="Editing")

intake = Node(name="Intake")
intake >> editing
newsroom = Flow(start=intake, flow_name="Newsroom")

print(newsroom.to_mermaid())
print()
print(newsroom.to_dot())
