"""The official specs the spec tier checks the emulator against, the operations of each that the shop's
clients use, and the base path each is served under.

Why only the shop's operations: the tier proves that what the shop relies on behaves as the provider
documents; operations the emulator does not implement would only measure its 404s. New routes
(MultiSafepay, Klarna Payment Authorize v2) add an entry here when their emulator packages land.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from emulator.multisafepay.schemas import load_document as read_multisafepay
from emulator.spec import JSONLoader
from tests.emulator_process import REPO_ROOT
from tests.spec.overlay import apply_overlay, load_overlay

NEXT_TOKEN = "emulator-token"
MULTISAFEPAY_KEY = "msp-emulator-api-key"  # the emulator default
KLARNA_BASIC = "Basic UEtfVEVTVDplbXVsYXRvci1zZWNyZXQ="  # base64("PK_TEST:emulator-secret"), the default


def read_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=JSONLoader)


@dataclass(frozen=True)
class SpecUnderTest:
    name: str  # overlay key
    file: str  # relative to the reference folder
    base_path: str  # where the emulator serves the spec's paths
    operations: tuple[str, ...]  # operationIds the shop's clients call
    headers: dict
    reader: Callable[[Path], dict] = read_yaml  # the published file -> one self-contained OpenAPI document


SPECS = (
    SpecUnderTest("next", "next-admin-api/2024-04-01.yaml", "/next/api/admin", (
        "ordersCreate", "ordersList", "ordersRetrieve", "ordersAddLineItemsCreate", "ordersCaptureCreate",
        "ordersRefundCreate", "ordersCancelCreate", "subscriptionsList", "subscriptionsRetrieve",
        "subscriptionsPartialUpdate", "subscriptionsRenewCreate", "subscriptionsRetryCreate",
        "subscriptionsCancelCreate"), {"Authorization": f"Bearer {NEXT_TOKEN}"}),
    SpecUnderTest("klarna_payments", "klarna/payments-v1.openapi.yaml", "/klarna", (
        "create_credit_session", "read_credit_session", "update_credit_session", "create_order",
        "purchase_token", "cancel_authorization"), {"Authorization": KLARNA_BASIC}),
    SpecUnderTest("klarna_tokens", "klarna/customer-token-v1.openapi.yaml", "/klarna", (
        "readCustomerToken", "createOrder", "patchCustomerToken"), {"Authorization": KLARNA_BASIC}),
    SpecUnderTest("klarna_orders", "klarna/ordermanagement-v1.openapi.yaml", "/klarna", (
        "getOrder", "updateAuthorization", "captureOrder", "refundOrder", "cancelOrder",
        "releaseRemainingAuthorization", "extendAuthorizationTime"), {"Authorization": KLARNA_BASIC}),
    SpecUnderTest("multisafepay", "multisafepay/openapi/docsopenapi.yaml", "/multisafepay/v1/json", (
        "CreateOrder", "getOrder", "updateOrder", "refundOrder"), {"api_key": MULTISAFEPAY_KEY},
        read_multisafepay),
)
# Emulator base paths the shop calls that have no official spec in shared/reference/, with the reason: the
# shop-request check skips (and counts) their requests instead of reporting "no operation matches".
WITHOUT_SPEC = {
    "/klarna-global/": "Klarna Payment Authorize v2 has no published OpenAPI spec (reference/klarna-authorize-v2.md "
                       "is built from the guides); the emulator checks those requests with hand-written rules",
}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def reference_dir() -> Path:
    configured = os.environ.get("EMULATOR_SPEC_DIR")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "reference"


def load_document(spec: SpecUnderTest, *, prune: bool = True) -> dict:
    """The published spec with the overlay applied; `prune` keeps only the shop's operations."""
    document = spec.reader(reference_dir() / spec.file)
    document = apply_overlay(document, load_overlay()["specs"][spec.name]["entries"])
    if prune:
        document["paths"] = _only(document["paths"], set(spec.operations))
    return document


def _only(paths: dict, wanted: set[str]) -> dict:
    kept: dict = {}
    for path, item in paths.items():
        operations = {m: op for m, op in item.items() if m in METHODS and op.get("operationId") in wanted}
        if operations:
            kept[path] = {**{k: v for k, v in item.items() if k not in METHODS}, **operations}
    found = {op["operationId"] for item in kept.values() for m, op in item.items() if m in METHODS}
    missing = wanted - found
    if missing:
        raise LookupError(f"operations not in the spec any more: {sorted(missing)}")
    return kept
