"""The README's Azure conformance table, generated from the pinned azure-mgmt SDKs: each operation their
clients expose for the resource types of the seed, and whether vaultlink serves it. ``python -m
tests.arm_conformance`` prints it; ``tests/unit/compat/test_arm_conformance.py`` checks that the README holds
exactly this text and that a test calls every operation marked implemented. (The SDKs are test
dependencies, so this lives with the tests.)"""

from __future__ import annotations

from typing import Any

START, END = "<!-- arm-conformance:start -->", "<!-- arm-conformance:end -->"

# (package, client class import path, operation group) -> implemented methods
IMPLEMENTED: dict[tuple[str, str, str], set[str]] = {
    ("azure-mgmt-resource", "azure.mgmt.resource.resources:ResourceManagementClient", "resource_groups"):
        {"begin_delete", "check_existence", "create_or_update", "get", "list", "update"},
    ("azure-mgmt-recoveryservices", "azure.mgmt.recoveryservices:RecoveryServicesClient", "vaults"):
        {"begin_create_or_update", "begin_delete", "begin_update", "get", "list_by_resource_group",
         "list_by_subscription_id"},
    ("azure-mgmt-recoveryservices", "azure.mgmt.recoveryservices:RecoveryServicesClient", "private_link_resources"):
        {"get", "list"},
    ("azure-mgmt-recoveryservicesbackup", "azure.mgmt.recoveryservicesbackup:RecoveryServicesBackupClient",
     "private_endpoint_connection"): {"begin_delete", "begin_put", "get"},
    ("azure-mgmt-network", "azure.mgmt.network:NetworkManagementClient", "virtual_networks"):
        {"begin_create_or_update", "begin_delete", "get", "list", "list_all"},
    ("azure-mgmt-network", "azure.mgmt.network:NetworkManagementClient", "subnets"):
        {"begin_create_or_update", "begin_delete", "get", "list"},
    ("azure-mgmt-network", "azure.mgmt.network:NetworkManagementClient", "virtual_network_peerings"):
        {"begin_create_or_update", "begin_delete", "get", "list"},
    ("azure-mgmt-network", "azure.mgmt.network:NetworkManagementClient", "private_endpoints"):
        {"begin_create_or_update", "begin_delete", "get", "list", "list_by_subscription"},
    ("azure-mgmt-network", "azure.mgmt.network:NetworkManagementClient", "private_dns_zone_groups"):
        {"begin_create_or_update", "begin_delete", "get", "list"},
    ("azure-mgmt-privatedns", "azure.mgmt.privatedns:PrivateDnsManagementClient", "private_zones"):
        {"begin_create_or_update", "begin_delete", "get", "list", "list_by_resource_group"},
    ("azure-mgmt-privatedns", "azure.mgmt.privatedns:PrivateDnsManagementClient", "record_sets"):
        {"create_or_update", "delete", "get", "list", "list_by_type"},
    ("azure-mgmt-privatedns", "azure.mgmt.privatedns:PrivateDnsManagementClient", "virtual_network_links"):
        {"begin_create_or_update", "begin_delete", "get", "list"},
}


class _Token:
    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("t", 2**31)


def operations() -> list[tuple[str, str, str, bool]]:
    """(package, group, method, implemented) for every method of the groups above, as the SDKs have them."""
    import importlib

    out = []
    for (package, path, group), done in IMPLEMENTED.items():
        module, _, cls = path.partition(":")
        client = getattr(importlib.import_module(module), cls)(credential=_Token(), subscription_id="x",
                                                                base_url="https://x")
        ops = getattr(client, group)
        for m in sorted(n for n in dir(ops) if not n.startswith("_") and callable(getattr(ops, n))):
            out.append((package, group, m, m in done))
    return out


def tables() -> str:
    ops = operations()
    done = sum(1 for o in ops if o[3])
    lines = [START, "", f"Azure Resource Manager: **{done} of {len(ops)}** operations of the pinned SDKs' clients for "
             "the seed's resource types (each client created with `base_url`, a vaultlink token, `connection_verify`).",
             "", "| SDK | operation group | method | implemented |", "|---|---|---|---|"]
    lines += [f"| {p} | `{g}` | `{m}` | {'yes' if d else 'no'} |" for p, g, m, d in ops]
    lines += ["", END]
    return "\n".join(lines)


if __name__ == "__main__":
    print(tables())
