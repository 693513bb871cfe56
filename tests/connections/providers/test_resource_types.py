"""Resource type -> provider: what each provider declares it deploys (selection by resource type)."""

from __future__ import annotations

import pytest

from connections.providers import REGISTRY, UnknownResourceType, provider_for_resource


@pytest.mark.parametrize(
    ("resource_type", "provider"),
    [
        ("aws_db_instance", "aws"),
        ("aws_ecr_repository", "aws"),
        ("google_container_cluster", "gcp"),
        ("azurerm_kubernetes_cluster", "azure"),
        ("azuread_application", "azure"),
        ("digitalocean_droplet", "digitalocean"),
        ("kubernetes_namespace", "kubernetes"),
        ("helm_release", "kubernetes"),
        ("vsphere_virtual_machine", "vcenter"),
        ("proxmox_vm_qemu", "proxmox"),
        ("AWS RDS", "aws"),
        ("  gke ", "gcp"),
        ("Cloud SQL", "gcp"),
        ("AKS", "azure"),
    ],
)
def test_resource_types_map_to_the_provider_that_deploys_them(resource_type, provider):
    assert provider_for_resource(resource_type).code == provider


@pytest.mark.parametrize("resource_type", ["", "aws_", "random_password", "RDS database", "awsdb_instance"])
def test_unknown_resource_types_are_refused_with_a_readable_message(resource_type):
    with pytest.raises(UnknownResourceType, match="No provider deploys resource type"):
        provider_for_resource(resource_type)


def test_every_cloud_provider_declares_what_it_deploys():
    for provider in REGISTRY.values():
        if provider.category in ("cloud", "git", "kubernetes", "on_prem"):
            assert provider.terraform_prefixes, provider.code
