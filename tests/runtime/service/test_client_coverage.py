"""The typed client (runtime.client) against the service's OpenAPI description, both ways: every route, method,
query parameter, header parameter and request body the service describes is one the client sends, and the
client sends nothing the description lacks; the client's TypedDicts have the fields of the service's models."""

from __future__ import annotations

import re
from typing import Any, get_args, get_type_hints

import pytest
from fastapi import FastAPI

from runtime.client import types as t
from runtime.client.client import COLLECTION_FILTERS, LIST_QUERY, ROUTES
from runtime.lifecycle.receipt_signing import ReceiptPublicKey
from runtime.service.app import create_app
from runtime.service.auth import AdminRule
from runtime.service.context import ServiceContext, admin_scope
from runtime.service.lifecycle_routes import lifecycle_router, receipt_key_router

Operation = tuple[str, str]  # method, path template
Shape = tuple[frozenset[str], frozenset[str], bool]  # query names, header names, has a body


@pytest.fixture(scope="module")
def described(owner_context: ServiceContext) -> dict[str, Any]:
    """The data service's description with every router `serve` can mount (lifecycle, receipt key)."""
    def unused() -> ReceiptPublicKey:
        raise AssertionError("describing the API reads no key")

    routers = [lifecycle_router(admin_scope=admin_scope(AdminRule("roles", "org-admin"))),
               receipt_key_router(public_key=unused)]
    app: FastAPI = create_app(owner_context, routers=routers)
    return app.openapi()


def _service_operations(document: dict[str, Any]) -> dict[Operation, Shape]:
    found = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            found[method.upper(), path] = (
                frozenset(p["name"] for p in parameters if p["in"] == "query"),
                frozenset(p["name"] for p in parameters if p["in"] == "header"),
                "requestBody" in operation,
            )
    return found


def _client_operations() -> dict[Operation, Shape]:
    found = {}
    for name, route in ROUTES.items():
        for collection in COLLECTION_FILTERS if "{collection}" in route.template else [""]:
            query = set(route.query) | (set(COLLECTION_FILTERS[collection]) if name == "list" else set())
            found[route.method, route.template.replace("{collection}", collection)] = (
                frozenset(query), frozenset(route.headers), route.body)
    return found


def test_client_covers_every_operation_and_parameter_the_service_describes(described: dict[str, Any]) -> None:
    service, client = _service_operations(described), _client_operations()
    assert sorted(set(service) - set(client)) == [], "operations the client does not cover"
    assert sorted(set(client) - set(service)) == [], "operations the client calls that the service lacks"
    differing = {op: (client[op], service[op]) for op in service if client[op] != service[op]}
    assert differing == {}, "(client, service) query/header parameters or body differ"
    for method, template in service:  # the path parameters are the template's, on both sides
        assert re.findall(r"{(\w+)}", template) == [
            p["name"] for p in described["paths"][template][method.lower()].get("parameters", []) if p["in"] == "path"]


MODELS = {  # OpenAPI model name -> (the client's create fields, the client's record)
    "Organisation": (t.OrganisationFields, t.Organisation),
    "Prompt": (t.PromptFields, t.Prompt),
    "ModelCall": (t.ModelCallFields, t.ModelCall),
    "Dataset": (t.DatasetFields, t.Dataset),
    "DatasetItem": (t.DatasetItemFields, t.DatasetItem),
    "EvaluationResult": (t.EvaluationResultFields, t.EvaluationResult),
    "User": (t.UserFields, t.User),
}


@pytest.mark.parametrize("model", sorted(MODELS))
def test_client_types_have_the_fields_of_the_service_models(described: dict[str, Any], model: str) -> None:
    schemas = described["components"]["schemas"]
    fields, record = MODELS[model]
    create = schemas[f"{model}Create"]
    assert set(get_type_hints(fields)) == set(create["properties"])
    assert fields.__required_keys__ == set(create.get("required", ()))  # type: ignore[attr-defined]
    if f"{model}Patch" in schemas:
        assert set(get_type_hints(fields)) == set(schemas[f"{model}Patch"]["properties"])
    assert set(get_type_hints(record)) == set(schemas[model]["properties"])


def test_client_lifecycle_bodies_have_the_fields_of_the_service_models(described: dict[str, Any]) -> None:
    schemas = described["components"]["schemas"]
    assert set(schemas["ExportBody"]["properties"]) == {"format", "contract_ended_at"}  # Exports.request's body
    assert set(schemas["ExportBody"]["properties"]["format"]["enum"]) == set(get_args(t.ExportFormat))
    assert set(schemas["ErasureBody"]["properties"]) == {"confirm_organisation_id"}  # Erasure.request's body


def test_client_list_query_is_the_collections_own(described: dict[str, Any]) -> None:
    """The filters the client knows per collection are those the service takes (a misspelt one is a 422)."""
    for collection, filters in COLLECTION_FILTERS.items():
        described_query = {p["name"] for p in described["paths"][f"/v1/{collection}"]["get"]["parameters"]}
        assert described_query == set(LIST_QUERY) | set(filters), collection
