"""Housekeeping on Azure: the lake's lifecycle management policy (raw/ to the cool, then the archive tier).

The policy is one ARM resource of the storage account (`managementPolicies/default`), written with
azure-mgmt-storage through the Azure ML connection's credential and subscription (the identity Airflow acts as
on Azure; it needs `Microsoft.Storage/storageAccounts/managementPolicies/write` on the account, see
deploy/azure/roles.md). The account is the lake's (`CONTAINER@ACCOUNT.dfs.core.windows.net`).
"""

from __future__ import annotations

from urllib.parse import urlparse

from contrail.config import ConfigError
from contrail.platforms.settings import Settings

RULE = "contrail-raw-tiers"


def lake_account(lake: str) -> tuple[str, str]:
    """(account, container/prefix) of the lake's abfs:// URL."""
    parsed = urlparse(lake)
    if "@" not in parsed.netloc:
        raise ConfigError(f"CONTRAIL_DATA_ROOT={lake!r}: the lifecycle policy needs the account in the URL, "
                          f"abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PREFIX")
    container, host = parsed.netloc.split("@", 1)
    return host.split(".", 1)[0], f"{container}{parsed.path.rstrip('/')}"


def lifecycle_policy(s: Settings, lake: str) -> dict:
    """The management policy: block blobs under the lake's raw/ go cool after `raw_archive_days` days without
    change and to the archive tier after `raw_deep_archive_days`."""
    cool, archive = s.number("raw_archive_days", int), s.number("raw_deep_archive_days", int)
    if not 0 < cool < archive:
        raise ConfigError(f"CONTRAIL_RAW_ARCHIVE_DAYS={cool} and CONTRAIL_RAW_DEEP_ARCHIVE_DAYS={archive}: "
                          f"expected 0 < cool days < archive days")
    _, prefix = lake_account(lake)
    return {"rules": [{"enabled": True, "name": RULE, "type": "Lifecycle", "definition": {
        "filters": {"blobTypes": ["blockBlob"], "prefixMatch": [f"{prefix}/raw/"]},
        "actions": {"baseBlob": {"tierToCool": {"daysAfterModificationGreaterThan": cool},
                                 "tierToArchive": {"daysAfterModificationGreaterThan": archive}}}}}]}


def apply_lake_policy(s: Settings, lake: str) -> str:
    from azure.mgmt.storage import StorageManagementClient
    from azure.mgmt.storage.models import ManagementPolicy
    from contrail_plugins.azureml.hook import AzureMLHook

    hook = AzureMLHook(s.need("azureml_conn_id"))
    subscription, workspace_group, _ = hook.scope()
    group = s.get("storage_resource_group") or workspace_group
    account, _ = lake_account(lake)
    base = (hook.connection.extra_dejson.get("resource_manager_url") or "https://management.azure.com").rstrip("/")
    client = StorageManagementClient(hook.get_credential(), subscription, base_url=base, credential_scopes=[f"{base}/.default"])
    policy = lifecycle_policy(s, lake)
    client.management_policies.create_or_update(group, account, "default",
                                                ManagementPolicy({"properties": {"policy": policy}}))  # the REST body
    actions = policy["rules"][0]["definition"]["actions"]["baseBlob"]
    return (f"lifecycle policy {RULE} on storage account {account} (resource group {group}): "
            f"{policy['rules'][0]['definition']['filters']['prefixMatch'][0]} to cool after "
            f"{actions['tierToCool']['daysAfterModificationGreaterThan']} days, to archive after "
            f"{actions['tierToArchive']['daysAfterModificationGreaterThan']}")
