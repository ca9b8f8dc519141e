"""GET /v1/erasure-receipts/public-key (P10): the published key verifies the receipts the signer issues; the
route needs the owner API's authentication; a KMS failure is a 503 problem, never a traceback."""

from __future__ import annotations

import uuid

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from runtime.db import OwnerScope
from runtime.errors import ReceiptSigningError
from runtime.lifecycle.receipt import ErasureReceipt, verify_receipt
from runtime.lifecycle.receipt_signing import LocalReceiptSigner, ReceiptPublicKey
from runtime.service.lifecycle_routes import receipt_key_router
from tests.runtime.lifecycle.test_receipt_signing import _receipt

SIGNER = LocalReceiptSigner.generate()


def _member() -> OwnerScope:
    return OwnerScope(uuid.uuid4(), uuid.uuid4(), "req-route")


def _nobody() -> OwnerScope:
    raise HTTPException(401, "not authenticated")


def _client(public_key: object = SIGNER.public_key, scope: object = _member) -> TestClient:
    app = FastAPI()
    app.include_router(receipt_key_router(public_key=public_key, owner_scope=scope))  # type: ignore[arg-type]
    return TestClient(app)


def test_receipt_key_route_published_pem_verifies_issued_receipt() -> None:
    answer = _client().get("/v1/erasure-receipts/public-key")
    assert answer.status_code == 200
    body = answer.json()
    assert body["key_id"] == SIGNER.key_id and body["signing_algorithm"] == "ECDSA_SHA_256"
    assert body["key_spec"] == "ECC_NIST_P256" and body["receipt_version"] == 3
    published = ReceiptPublicKey.from_pem(body["public_key_pem"], body["key_id"])
    receipt: ErasureReceipt = verify_receipt(published, _receipt().signed(SIGNER))
    assert receipt.signing_key_id == body["key_id"]


def test_receipt_key_route_unauthenticated_401() -> None:
    assert _client(scope=_nobody).get("/v1/erasure-receipts/public-key").status_code == 401


def test_receipt_key_route_kms_unavailable_503() -> None:
    def failing() -> ReceiptPublicKey:
        raise ReceiptSigningError("kms:GetPublicKey of k failed: AccessDeniedException")

    answer = _client(public_key=failing).get("/v1/erasure-receipts/public-key")
    assert answer.status_code == 503 and "AccessDenied" not in answer.text
