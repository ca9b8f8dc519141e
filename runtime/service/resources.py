"""The owner API's collections: one per SENSITIVE record table of the data layer, with their JSON shapes.

Each collection lists its fields; the request and answer models (pydantic, hence the OpenAPI
description) and the codec between JSON values and the bytes the data layer encrypts are derived
from that list, so they cannot drift. Field names are the table's column names; `check_coverage`
(run by the tests) proves every writable column of every SENSITIVE table is served.

Text travels as UTF-8, numbers as their decimal text, JSON objects as compact JSON; all of it is
envelope-encrypted by the data layer before it reaches the database.

Each collection also derives its list query (limit, cursor, created_at range, its reference ids, and
equality on its blind-indexed encrypted fields: runtime/db/paging.py), its page and its batch models.
"""

import json
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, StrictStr, create_model
from pydantic_core import PydanticSerializationError, to_json

from runtime import bounds
from runtime.bounds import FloatRange, IntRange
from runtime.classification import Sensitive
from runtime.db.paging import BLIND_INDEXES, CURSOR_CHARS, IndexKind, ListFilter, member
from runtime.db.records import MAX_LIST_LIMIT, Record
from runtime.db.schema import RECORD_TABLES

SHORT_TEXT: Final = 512
LONG_TEXT: Final = 262_144  # characters; the body limit (1 MiB by default) bounds a request as a whole
MAX_JSON_BYTES: Final = 65_536
DEFAULT_LIST_LIMIT: Final = 50
BATCH_MAX_ITEMS: Final = bounds.BATCH_ITEMS.maximum  # and the body limit (1 MiB by default), whichever is less
METADATA_FILTERS_MAX: Final = bounds.METADATA_FILTERS.maximum
# A page of records of up to ~1 MiB each (the body limit): the range keeps an answer well under a task's memory.
LIST_LIMIT_MIN: Final = bounds.LIST_LIMIT.minimum
LIST_LIMIT_MAX: Final = min(bounds.LIST_LIMIT.maximum, MAX_LIST_LIMIT)


class Kind(Enum):
    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    JSON = "json"
    REFERENCE = "reference"  # the id of another record of the same owner (not encrypted: a platform id)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    kind: Kind
    description: str
    required: bool = False
    max_length: int = SHORT_TEXT
    number_range: IntRange | FloatRange | None = None  # required for INTEGER and NUMBER fields


def _unicode_text(value: str) -> str:
    if value.isascii():  # O(1) in CPython: ASCII text always encodes
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


_JSON_RULE: Final = (
    f"must be a JSON object of valid Unicode text and finite numbers, integers from "
    f"{bounds.JSON_INTEGER.describe()}, nested at most {bounds.JSON_DEPTH} levels deep"
)


def _within_json_bounds(value: JsonValue) -> bool:
    """Depth, integer range and finite numbers, walked without recursion (a deep value cannot exhaust the
    stack). Text, the usual leaf, costs one type test: this runs for every item of a batch."""
    for child in value.values() if isinstance(value, dict) else value:  # type: ignore[union-attr]
        if type(child) is not str:
            break
    else:  # texts only, the usual metadata: nothing nested, no numbers
        return True
    lowest, highest = bounds.JSON_INTEGER.minimum, bounds.JSON_INTEGER.maximum
    pending: list[tuple[JsonValue, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > bounds.JSON_DEPTH:
            return False
        for child in item.values() if isinstance(item, dict) else item:  # type: ignore[union-attr]
            if type(child) is str:
                continue
            if isinstance(child, dict | list):
                pending.append((child, depth + 1))
            elif not _json_leaf_within(child, lowest, highest):
                return False
    return True


def _json_leaf_within(leaf: JsonValue, lowest: int, highest: int) -> bool:
    if isinstance(leaf, float):
        return math.isfinite(leaf)
    return not isinstance(leaf, int) or isinstance(leaf, bool) or lowest <= leaf <= highest


class JsonDocument(dict[str, Any]):
    """A validated JSON object with its compact encoding: encoded once, to check its size, and stored so."""

    __slots__ = ("encoded",)
    encoded: bytes


def _document(value: dict[str, Any], encoded: bytes) -> JsonDocument:
    document = JsonDocument(value)  # dict's own constructor: twice as fast as one written in Python
    document.encoded = encoded
    return document


def _bounded_json(value: dict[str, JsonValue]) -> JsonDocument:
    if not _within_json_bounds(value):
        raise ValueError(_JSON_RULE)
    try:
        encoded = _dump_json(value)
    except PydanticSerializationError:  # text that is not valid Unicode (a lone surrogate)
        raise ValueError(_JSON_RULE) from None
    if len(encoded) > MAX_JSON_BYTES:
        raise ValueError(f"must be at most {MAX_JSON_BYTES} bytes as JSON")
    return _document(value, encoded)


def _dump_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, as json.dumps(ensure_ascii=False, separators=(",", ":")) writes it, ten times faster
    (pydantic's serializer): a batch encodes one document per item. Values are checked finite before."""
    return to_json(value)


def _annotation(spec: FieldSpec) -> Any:
    info = Field(description=spec.description)
    if spec.kind is Kind.TEXT:
        return Annotated[StrictStr, Field(max_length=spec.max_length), AfterValidator(_unicode_text), info]
    if spec.kind is Kind.INTEGER:
        if not isinstance(spec.number_range, IntRange):
            raise TypeError(f"{spec.name}: an INTEGER field needs an IntRange (runtime/bounds.py)")
        return bounds.bounded_int(spec.number_range, spec.description)
    if spec.kind is Kind.NUMBER:
        if not isinstance(spec.number_range, FloatRange):
            raise TypeError(f"{spec.name}: a NUMBER field needs a FloatRange (runtime/bounds.py)")
        return bounds.bounded_float(spec.number_range, spec.description)
    if spec.kind is Kind.JSON:
        return Annotated[dict[str, JsonValue], AfterValidator(_bounded_json), info]
    return Annotated[uuid.UUID, info]


def _integer_text(value: Any) -> bytes:
    return str(int(value)).encode("ascii")


def _number_text(value: Any) -> bytes:
    return repr(float(value)).encode("ascii")


def _json_text(value: Any) -> bytes:
    return value.encoded if type(value) is JsonDocument else _dump_json(value)


def _reference(value: Any) -> uuid.UUID:
    assert isinstance(value, uuid.UUID)
    return value


_ENCODERS: Final[Mapping[Kind, Callable[[Any], bytes | uuid.UUID]]] = {
    Kind.TEXT: str.encode,  # UTF-8: validated text has no lone surrogates
    Kind.INTEGER: _integer_text,
    Kind.NUMBER: _number_text,
    Kind.JSON: _json_text,
    Kind.REFERENCE: _reference,
}


def _decode(spec: FieldSpec, value: bytes) -> Any:
    """Stored bytes back to JSON; a value this API did not write in this form reads as null."""
    if spec.kind is Kind.TEXT:
        return value.decode("utf-8", "replace")
    try:
        if spec.kind is Kind.INTEGER:
            return int(value.decode("ascii"))
        if spec.kind is Kind.NUMBER:
            number = float(value.decode("ascii"))
            return number if math.isfinite(number) else None
        document = json.loads(value)
        return document if isinstance(document, dict) else None
    except (ValueError, RecursionError):
        return None


class Created(BaseModel):
    id: uuid.UUID = Field(description="the new record's id")


class BatchCreated(BaseModel):
    ids: list[uuid.UUID] = Field(description="the new records' ids, in the order of the items")


def _metadata_pair(value: str) -> str:
    if "=" not in value:
        raise ValueError("must be KEY=VALUE (the first = separates them)")
    return value


_METADATA_FILTER_DOC: Final = (
    "KEY=VALUE: records whose metadata has the top-level KEY with this value (a string as itself, any other "
    "JSON value as compact JSON, e.g. retries=3 or tags=[\"a\"]); repeat to require several (at most "
    f"{bounds.METADATA_FILTERS.maximum}). Matched through a keyed blind index, exact after decryption"
)


def _strict_config(title: str) -> ConfigDict:
    return ConfigDict(extra="forbid", title=title)


@dataclass(frozen=True)
class Resource:
    """One collection of the owner API, e.g. /v1/model-calls over the table model_calls."""

    path: str
    table: str
    model_name: str
    summary: str
    fields: tuple[FieldSpec, ...]
    create_model: type[BaseModel] = field(init=False, repr=False)
    patch_model: type[BaseModel] = field(init=False, repr=False)
    out_model: type[BaseModel] = field(init=False, repr=False)
    list_model: type[BaseModel] = field(init=False, repr=False)
    query_model: type[BaseModel] = field(init=False, repr=False)
    batch_model: type[BaseModel] = field(init=False, repr=False)
    # (field name, its value to the data layer's bytes or UUID), in field order: a batch encodes each item's fields
    encoders: tuple[tuple[str, Callable[[Any], bytes | uuid.UUID]], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        create: dict[str, Any] = {}
        patch: dict[str, Any] = {}
        out: dict[str, Any] = {
            "id": (uuid.UUID, Field(description="the record's id")),
            "created_at": (datetime, Field(description="when the platform stored the record")),
        }
        for spec in self.fields:
            annotation = _annotation(spec)
            create[spec.name] = (annotation, ...) if spec.required else (annotation | None, None)
            patch[spec.name] = (annotation if spec.required else annotation | None, None)
            out[spec.name] = (_out_annotation(spec), None)
        name = self.model_name
        new = object.__setattr__
        new(self, "create_model", create_model(f"{name}Create", __config__=_strict_config(f"{name}Create"), **create))
        new(self, "patch_model", create_model(f"{name}Patch", __config__=_strict_config(f"{name}Patch"), **patch))
        new(self, "out_model", create_model(name, **out))
        new(self, "list_model", create_model(
            f"{name}Page",
            items=(list[self.out_model], Field(description="the page's records, newest first")),  # type: ignore[name-defined]
            next_cursor=(str | None, Field(description="give it as `cursor` for the next page; null at the end")),
        ))
        items: Any = Annotated[list[self.create_model], Field(  # type: ignore[name-defined]
            min_length=bounds.BATCH_ITEMS.minimum, max_length=bounds.BATCH_ITEMS.maximum,
            description=f"{bounds.BATCH_ITEMS.describe()} new records, stored all or none")]
        new(self, "batch_model", create_model(f"{name}Batch", __config__=_strict_config(f"{name}Batch"),
                                              items=(items, ...)))
        new(self, "query_model", self._query_model())
        new(self, "encoders", tuple((spec.name, _ENCODERS[spec.kind]) for spec in self.fields))

    def _query_model(self) -> type[BaseModel]:
        fields: dict[str, Any] = {
            "limit": (Annotated[int, Field(  # query text: not StrictInt
                ge=LIST_LIMIT_MIN, le=LIST_LIMIT_MAX,
                description=f"how many records, newest first; {bounds.LIST_LIMIT.describe()}")], DEFAULT_LIST_LIMIT),
            "cursor": (Annotated[str | None, Field(
                max_length=CURSOR_CHARS, pattern="^[A-Za-z0-9_-]+$",
                description="the previous page's next_cursor (opaque; valid for the same filter only)")], None),
            "created_from": (bounds.BoundedDatetime | None, Field(
                None, description=bounds.time_description("records stored at or after this time"))),
            "created_before": (bounds.BoundedDatetime | None, Field(
                None, description=bounds.time_description("records stored before this time"))),
        }
        for spec in self.fields:
            if spec.kind is Kind.REFERENCE:
                fields[spec.name] = (uuid.UUID | None, Field(None, description=f"only records with this {spec.name}"))
        for index in BLIND_INDEXES.get(self.table, ()):
            source = next(s for s in self.fields if s.name == index.source)
            if index.kind is IndexKind.EXACT:
                fields[index.source] = (Annotated[StrictStr | None, Field(
                    max_length=source.max_length,
                    description=f"only records whose {index.source} is exactly this (a keyed blind index, exact "
                                "after decryption)")], None)
            else:
                pair = Annotated[str, Field(min_length=2, max_length=SHORT_TEXT * 2), AfterValidator(_metadata_pair)]
                fields[index.source] = (Annotated[list[pair], Field(
                    max_length=bounds.METADATA_FILTERS.maximum, description=_METADATA_FILTER_DOC)], [])
        name = self.model_name
        return create_model(f"{name}Query", __config__=_strict_config(f"{name}Query"), **fields)

    def list_filter(self, query: BaseModel) -> ListFilter:
        """The data layer's filter for a validated list query."""
        given = query.model_dump()
        references = tuple((s.name, given[s.name]) for s in self.fields
                           if s.kind is Kind.REFERENCE and given.get(s.name) is not None)
        equals: list[tuple[str, bytes]] = []
        for index in BLIND_INDEXES.get(self.table, ()):
            value = given.get(index.source)
            if index.kind is IndexKind.EXACT and value is not None:
                equals.append((index.column, str(value).encode("utf-8")))
            elif index.kind is IndexKind.JSON_MEMBERS:
                for pair in value or ():
                    key, _, text = str(pair).partition("=")
                    equals.append((index.column, member(key, text)))
        return ListFilter(given.get("created_from"), given.get("created_before"), references, tuple(equals))

    @property
    def required(self) -> frozenset[str]:
        return frozenset(s.name for s in self.fields if s.required)

    def to_row(self, body: BaseModel, *, partial: bool = False) -> dict[str, object]:
        """The data layer's row: sensitive columns as bytes, references as UUIDs (None stays None)."""
        values = vars(body)  # the validated attributes as they are (model_dump would copy them)
        if partial:
            given = body.model_fields_set
            return {name: None if values[name] is None else encode(values[name])
                    for name, encode in self.encoders if name in given}
        return {name: None if (value := values[name]) is None else encode(value) for name, encode in self.encoders}

    def to_json(self, record: Record) -> dict[str, Any]:
        document: dict[str, Any] = {"id": record.id, "created_at": record.created_at}
        for spec in self.fields:
            if spec.kind is Kind.REFERENCE:
                document[spec.name] = record.references.get(spec.name)
                continue
            value = record.values.get(spec.name)
            document[spec.name] = None if value is None else _decode(spec, _reveal(value))
        return document


def _reveal(value: Sensitive[bytes]) -> bytes:
    return value.reveal()  # decrypted for its owner's answer only (P7: never logged)


def _out_annotation(spec: FieldSpec) -> Any:
    base: Any = {
        Kind.TEXT: str,
        Kind.INTEGER: int,
        Kind.NUMBER: float,
        Kind.JSON: dict[str, JsonValue],
        Kind.REFERENCE: uuid.UUID,
    }[spec.kind]
    return Annotated[base | None, Field(description=spec.description)]


def _text(name: str, description: str, *, required: bool = False, max_length: int = SHORT_TEXT) -> FieldSpec:
    return FieldSpec(name, Kind.TEXT, description, required, max_length)


def _ref(name: str, description: str, *, required: bool = False) -> FieldSpec:
    return FieldSpec(name, Kind.REFERENCE, description, required)


RESOURCES: Final[tuple[Resource, ...]] = (
    Resource(
        "prompts", "prompts", "Prompt", "prompt templates",
        (
            _text("name", "a name for the prompt"),
            _text("body", "the prompt template", required=True, max_length=LONG_TEXT),
        ),
    ),
    Resource(
        "model-calls", "model_calls", "ModelCall", "logs of model calls: inputs and outputs",
        (
            _ref("prompt_id", "the prompt this call used, if any"),
            _text("model", "the model that was called"),
            _text("input", "what was sent to the model", required=True, max_length=LONG_TEXT),
            _text("output", "what the model answered", max_length=LONG_TEXT),
            FieldSpec("input_tokens", Kind.INTEGER, "tokens in the input", number_range=bounds.TOKEN_COUNT),
            FieldSpec("output_tokens", Kind.INTEGER, "tokens in the output", number_range=bounds.TOKEN_COUNT),
            FieldSpec("metadata", Kind.JSON, f"any JSON object, at most {MAX_JSON_BYTES} bytes, nested at most "
                      f"{bounds.JSON_DEPTH} levels, integers from {bounds.JSON_INTEGER.describe()}"),
        ),
    ),
    Resource(
        "datasets", "datasets", "Dataset", "named collections of examples",
        (
            _text("name", "the dataset's name", required=True),
            _text("description", "what the dataset is for", max_length=LONG_TEXT),
        ),
    ),
    Resource(
        "dataset-items", "dataset_items", "DatasetItem", "examples of a dataset",
        (
            _ref("dataset_id", "the dataset this example belongs to", required=True),
            _text("input", "the example's input", required=True, max_length=LONG_TEXT),
            _text("expected_output", "the expected output", max_length=LONG_TEXT),
        ),
    ),
    Resource(
        "evaluation-results", "evaluation_results", "EvaluationResult", "scores of model calls or dataset items",
        (
            _ref("model_call_id", "the model call that was evaluated"),
            _ref("dataset_item_id", "the dataset item it was evaluated against"),
            _text("evaluator", "the evaluator's name", required=True),
            FieldSpec("score", Kind.NUMBER, "the score", number_range=bounds.SCORE),
            _text("details", "the evaluator's explanation", max_length=LONG_TEXT),
        ),
    ),
    Resource(
        "users", "users", "User", "people who sign in on behalf of the organisation",
        (
            _text("email", "the user's e-mail address", required=True, max_length=320),
            _text("display_name", "the user's name as shown"),
        ),
    ),
)

ORGANISATION: Final = Resource(
    "organisation", "organisations", "Organisation", "the caller's own organisation (the owner of all its data)",
    (
        _text("name", "the organisation's name", required=True),
        _text("billing_email", "where invoices go", max_length=320),
    ),
)


def check_coverage(resources: tuple[Resource, ...] = (*RESOURCES, ORGANISATION)) -> list[str]:
    """Problems between the collections and the data layer's SENSITIVE tables; empty when they match."""
    problems: list[str] = []
    served = {r.table: r for r in resources}
    for name, table in RECORD_TABLES.items():
        resource = served.get(name)
        if resource is None:
            problems.append(f"the SENSITIVE table {name} has no collection in the owner API")
            continue
        fields = {s.name for s in resource.fields}
        if fields != set(table.writable_columns):
            problems.append(f"{name}: fields {sorted(fields)} differ from columns {sorted(table.writable_columns)}")
        references = {s.name for s in resource.fields if s.kind is Kind.REFERENCE}
        if references != set(table.reference_columns):
            problems.append(f"{name}: reference fields {sorted(references)} differ from {table.reference_columns}")
    problems.extend(f"{r.table} is not a SENSITIVE record table" for r in resources if r.table not in RECORD_TABLES)
    return problems


def by_table(resources: tuple[Resource, ...] = RESOURCES) -> Mapping[str, Resource]:
    return {r.table: r for r in resources}
