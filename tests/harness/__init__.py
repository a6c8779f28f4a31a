"""The isolated node harness for integration tests (see DESIGN.md, "The test harness").

`start_node()` gives a Node: new network and mount namespaces with their own
libvirtd and virtlogd. `python -m tests.harness shell` opens a shell in one.
"""

from tests.harness.node import Node, NodeCommandError, NodeError, link_nodes, start_node

__all__ = ["Node", "NodeCommandError", "NodeError", "link_nodes", "start_node"]
