"""The shapes the service reads and answers, as TypedDicts (JSON as `json.loads` gives it: ids and times are
strings). `<Name>Fields` is what a create takes (Required marks the required ones); `<Name>` is a record as
read back, every field present (null when unset). tests/runtime/service/test_client_coverage.py checks each against
the service's OpenAPI description."""

from typing import Any, Literal, Required, TypedDict

JsonObject = dict[str, Any]


class Stored(TypedDict):
    id: str
    created_at: str  # RFC 3339, UTC


class OrganisationFields(TypedDict, total=False):
    name: Required[str]
    billing_email: str | None


class Organisation(Stored):
    name: str | None
    billing_email: str | None


class PromptFields(TypedDict, total=False):
    name: str | None
    body: Required[str]


class Prompt(Stored):
    name: str | None
    body: str | None


class ModelCallFields(TypedDict, total=False):
    prompt_id: str | None
    model: str | None
    input: Required[str]
    output: str | None
    input_tokens: int | None
    output_tokens: int | None
    metadata: JsonObject | None


class ModelCall(Stored):
    prompt_id: str | None
    model: str | None
    input: str | None
    output: str | None
    input_tokens: int | None
    output_tokens: int | None
    metadata: JsonObject | None


class DatasetFields(TypedDict, total=False):
    name: Required[str]
    description: str | None


class Dataset(Stored):
    name: str | None
    description: str | None


class DatasetItemFields(TypedDict, total=False):
    dataset_id: Required[str]
    input: Required[str]
    expected_output: str | None


class DatasetItem(Stored):
    dataset_id: str | None
    input: str | None
    expected_output: str | None


class EvaluationResultFields(TypedDict, total=False):
    model_call_id: str | None
    dataset_item_id: str | None
    evaluator: Required[str]
    score: float | None
    details: str | None


class EvaluationResult(Stored):
    model_call_id: str | None
    dataset_item_id: str | None
    evaluator: str | None
    score: float | None
    details: str | None


class UserFields(TypedDict, total=False):
    email: Required[str]
    display_name: str | None


class User(Stored):
    email: str | None
    display_name: str | None


ExportFormat = Literal["csv", "json", "jsonl"]


class ExportRequest(TypedDict):
    id: str
    format: ExportFormat
    status: str  # requested, running, complete, failed
    requested_at: str
    contract_ended_at: str
    deadline: str  # contract end + 30 days (P13)
    started_at: str | None
    completed_at: str | None
    manifest_sha256: str | None
    row_count: int | None
    failure: str | None


class RequestedExport(ExportRequest):
    job_started: bool


class FileDownload(TypedDict):
    name: str
    table: str | None
    rows: int | None
    bytes: int | None
    sha256: str | None
    url: str


class ExportDownload(TypedDict):
    export_id: str
    expires_at: str
    expires_in_seconds: int
    manifest: FileDownload
    files: list[FileDownload]


class ErasureStatus(TypedDict):
    id: str
    state: str
    requested_at: str
    started_at: str | None
    completed_at: str | None
    receipt: JsonObject | None


class RequestedErasure(ErasureStatus):
    job_started: bool


class ReceiptPublicKey(TypedDict):
    key_id: str
    key_spec: str
    signing_algorithm: str
    message_type: str
    receipt_version: int
    public_key_pem: str
    verify: str
