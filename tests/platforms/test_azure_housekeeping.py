"""The azure profile's lifecycle management policy for raw/, written through azure-mgmt-storage to the ARM peer
(tests/azureml_peer.py) with the Azure ML connection's credential: the exact resource and body ARM receives."""

from __future__ import annotations

import pytest
from test_azureml import peer, workspace  # noqa: F401  (the ARM peer's fixtures)

LAKE = "abfs://lake@contrailstore.dfs.core.windows.net/contrail"


@pytest.fixture
def azure_lake(monkeypatch):
    monkeypatch.setenv("CONTRAIL_PROFILE", "azure")
    monkeypatch.setenv("CONTRAIL_DATA_ROOT", LAKE)


def test_the_lake_policy_moves_raw_to_cool_then_archive_on_the_lakes_storage_account(workspace, azure_lake):  # noqa: F811
    from contrail.platforms import azure as platform

    done = platform.apply_lake_policy()
    (put,) = workspace.calls("put_management_policy")
    subscription, group, _ = workspace.scope
    assert put.path == (f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Storage/"
                        f"storageAccounts/contrailstore/managementPolicies/default")
    assert put.headers["Authorization"].startswith("Bearer ")
    assert put.body == {"properties": {"policy": {"rules": [{"enabled": True, "name": "contrail-raw-tiers", "type": "Lifecycle",
                                                             "definition": {
        "filters": {"blobTypes": ["blockBlob"], "prefixMatch": ["lake/contrail/raw/"]},
        "actions": {"baseBlob": {"tierToCool": {"daysAfterModificationGreaterThan": 90},
                                 "tierToArchive": {"daysAfterModificationGreaterThan": 365}}}}}]}}}
    assert "contrailstore" in done and "to cool after 90 days, to archive after 365" in done


def test_the_storage_accounts_resource_group_and_the_days_come_from_the_settings(workspace, azure_lake, monkeypatch):  # noqa: F811
    from contrail.platforms import azure as platform

    monkeypatch.setenv("CONTRAIL_AZURE_STORAGE_RESOURCE_GROUP", "rg-data")
    monkeypatch.setenv("CONTRAIL_RAW_ARCHIVE_DAYS", "30")
    monkeypatch.setenv("CONTRAIL_RAW_DEEP_ARCHIVE_DAYS", "180")
    platform.apply_lake_policy()
    (put,) = workspace.calls("put_management_policy")
    assert "/resourceGroups/rg-data/" in put.path
    assert put.body["properties"]["policy"]["rules"][0]["definition"]["actions"]["baseBlob"] == {
        "tierToCool": {"daysAfterModificationGreaterThan": 30}, "tierToArchive": {"daysAfterModificationGreaterThan": 180}}


@pytest.mark.parametrize("setting, value, message", [
    ("CONTRAIL_RAW_DEEP_ARCHIVE_DAYS", "20", "expected 0 < cool days < archive days"),
    ("CONTRAIL_DATA_ROOT", "abfs://lake/contrail", "the lifecycle policy needs the account in the URL"),
])
def test_bad_days_or_a_lake_without_its_account_are_refused_before_arm_is_called(workspace, azure_lake, monkeypatch,  # noqa: F811
                                                                                   setting, value, message):
    from contrail.config import ConfigError
    from contrail.platforms import azure as platform

    monkeypatch.setenv(setting, value)
    with pytest.raises(ConfigError, match=message):
        platform.apply_lake_policy()
    assert workspace.calls("put_management_policy") == []
