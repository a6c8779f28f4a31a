"""The node's L3 and filtering agent: router namespaces and labcloud's nft tables.

Plain data in and out (like the other agents), so a remote node can run the same code.
"""

from __future__ import annotations

from labcloud.backends import nftables, router_ns


class LocalL3Agent:
    def apply_filter(self, spec: dict[str, object]) -> None:
        nftables.apply_filter(spec)

    def filter_tables(self) -> list[str]:
        return nftables.tables()

    def filter_text(self) -> str:
        return nftables.list_ruleset()

    def sync_router(self, spec: dict[str, object]) -> None:
        router_ns.sync_router(spec)

    def remove_router(self, netns: str) -> None:
        router_ns.remove_router(netns)

    def router_namespaces(self) -> list[str]:
        return router_ns.router_namespaces()

    def describe_router(self, netns: str) -> dict[str, object]:
        return router_ns.describe(netns)
