"""The router part of `labcloud doctor`: namespaces, legs and NAT tables that the store
names but the node lacks."""

from __future__ import annotations

from sqlmodel import select

from labcloud.db.l3_models import Router
from labcloud.services.core import Finding
from labcloud.services.l3.hosts import RouterHost


def check(svc: RouterHost, repair: bool) -> list[Finding]:
    """Routers whose namespace or NAT table is gone; repair rebuilds them from the store."""
    present = set(svc.l3.router_namespaces())
    with svc.ctx.store.read() as s:
        routers = list(s.exec(select(Router).order_by(Router.name)))
    findings = []
    for router in routers:
        if router.namespace not in present:
            kind, what = "missing-router-namespace", f"its namespace {router.namespace}"
        else:
            seen = svc.l3.describe_router(router.namespace)
            with svc.ctx.store.read() as s:
                spec = svc.spec(s, router)
            # misc: spec() is the agent's JSON (values typed object); legs is a list.
            legs = [*spec["legs"], *([spec["gateway"]] if spec["gateway"] else [])]  # type: ignore[misc]
            missing = sorted({str(leg["name"]) for leg in legs} - set(seen.get("legs", {})))  # type: ignore[call-overload]
            if not seen.get("nat"):
                kind, what = "missing-nft-table", f"the NAT table in {router.namespace}"
            elif missing:
                kind, what = "missing-router-leg", f"leg {', '.join(missing)}"
            else:
                continue
        if repair:
            svc.sync(router.id)
        findings.append(
            Finding(
                kind,
                router.name,
                f"{what} is missing" + ("; rebuilt from the store" if repair else ""),
                repair,
            )
        )
    return findings
