"""Adapters of moto's DynamoDB: what it does differently from AWS, or too slowly, for this template.

docs/local-runtime.md lists every adapter and why it exists.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import json
import pickle
import threading
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

from accesswatch_tools.embedded.adapters.direct import answered, moto_would_serve, on_new_clients, prepared

# One DynamoDB request at a time in moto, whichever way it arrives (moto's own dispatch, the direct one).
_LOCK = threading.RLock()


@contextlib.contextmanager
def serialised_dynamodb() -> Iterator[None]:
    """One DynamoDB request at a time, because moto's tables are plain dicts.

    A read that serialises or copies an item while another thread adds attributes to it fails with
    ``RuntimeError: dictionary changed size during iteration`` (``run`` querying the status index while
    cases are triaged, the CLI reading a case while its workflow moves it on). DynamoDB triggers no
    functions here, so a request never waits on the invocation lock while holding this one. The direct
    dispatch below holds the same lock."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    def call_action(handler: Any) -> Any:
        with _LOCK:
            return original(handler)

    with mock.patch.object(DynamoHandler, "call_action", call_action):
        yield


# ---------------------------------------------------------------------------------------------------
# Direct dispatch: an in-process boto3 call handed straight to moto's DynamoHandler method.
# ---------------------------------------------------------------------------------------------------

DIRECT_OPERATIONS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
    "BatchGetItem", "BatchWriteItem", "TransactWriteItems", "TransactGetItems",
})
_HANDLER_ID = "accesswatch-dynamodb-direct-dispatch"
_active = [0]  # > 0 while some runtime has direct dispatch on
_MISSING = object()  # a value not given (in a parsed condition's cache key)


_parsers: dict[type, type] = {}
# (parser class, shape) -> a function (parser, value) -> what the parser's _parse_shape gives
_parse_functions: dict[tuple[type, int], tuple[Any, Callable[[Any, Any], Any]]] = {}


def _identity(_parser: Any, value: Any) -> Any:
    return value


def _parse_function(parser_class: type, shape: Any) -> Callable[[Any, Any], Any]:
    """What moto's JSON parser does with a value of ``shape`` (``_parse_shape``), as one function per shape:
    a structure walked by the keys its value holds (an AttributeValue holds one of ten members), its
    members in the same order; the handler of a scalar looked up once."""
    cached = _parse_functions.get((parser_class, id(shape)))
    if cached is not None and cached[0] is shape:
        return cached[1]
    kind = shape.type_name
    function: Callable[[Any, Any], Any]
    if kind == "structure" and not shape.is_document_type:
        rows: list[tuple[str, str, Any, list[Callable[[Any, Any], Any]]]] = [
            (name, member.serialization.get("name", name), member, []) for name, member in shape.members.items()]
        by_name: dict[str, tuple[int, ...]] = {}
        for position, (_name, json_name, _member, _function) in enumerate(rows):
            by_name[json_name] = (*by_name.get(json_name, ()), position)
        few = len(rows) // 2

        def function(parser: Any, value: Any) -> Any:
            if value is None:
                return None
            members = rows
            if type(value) is dict and len(value) <= few:
                if len(value) == 1:
                    members = [rows[position] for position in by_name.get(next(iter(value)), ())]
                else:
                    members = [rows[position] for position in sorted({
                        position for key in value for position in by_name.get(key, ())})]
            final_parsed = parser.MAP_TYPE()
            for name, json_name, member, parse in members:
                raw_value = value.get(json_name)
                if raw_value is not None:
                    if not parse:
                        parse.append(_parse_function(parser_class, member))
                    final_parsed[name] = parse[0](parser, raw_value)
            return final_parsed
    elif kind == "list":
        member_shape = shape.member

        def function(parser: Any, value: Any) -> Any:
            parse = _parse_function(parser_class, member_shape)
            return [parse(parser, item) for item in value]
    elif kind == "map":
        key_shape, value_shape = shape.key, shape.value

        def function(parser: Any, value: Any) -> Any:
            parse_key = _parse_function(parser_class, key_shape)
            parse_value = _parse_function(parser_class, value_shape)
            parsed = parser.MAP_TYPE()
            for key, val in value.items():
                parsed[parse_key(parser, key)] = parse_value(parser, val)
            return parsed
    elif kind in ("string", "boolean", "structure") and not hasattr(parser_class, f"_parse_{kind}"):
        function = _identity  # moto's _default_handle (a document structure: as it is)
    else:
        handler_name = f"_parse_{kind}"

        def function(parser: Any, value: Any) -> Any:
            return getattr(parser, handler_name, parser._default_handle)(shape, value)
    _parse_functions[(parser_class, id(shape))] = (shape, function)
    return function


def _request_parser(base: Any) -> Any:
    """moto's JSON request parser with ``_parse_shape`` as one function per shape (``_parse_function``):
    the same result, the same members parsed in the same order."""
    parser = _parsers.get(base)
    if parser is not None:
        return parser
    from moto.core.parse import BaseJSONParser, RequestParser

    if (base._parse_structure is not BaseJSONParser._parse_structure or base._parse_shape is not RequestParser._parse_shape
            or base._parse_list is not RequestParser._parse_list or base._parse_map is not RequestParser._parse_map):
        _parsers[base] = base  # a parser that walks otherwise: as it is
        return base

    class Parser(base):  # type: ignore[misc, valid-type]
        def _parse_shape(self, shape: Any, node: Any) -> Any:
            return _parse_function(type(self), shape)(self, node)

    _parsers[base] = Parser
    return Parser


class _DeferredBody:
    """A request's body not serialised yet: the parameters botocore validated, which the direct path parses as moto
    parses their JSON (``_deferred_parser``); ``encoded()`` gives the JSON if the call takes the ordinary path."""

    __slots__ = ("operation_model", "params", "serializer")

    def __init__(self, params: Any, operation_model: Any, serializer: Any) -> None:
        self.params = params
        self.operation_model = operation_model
        self.serializer = serializer

    def encoded(self) -> bytes:
        return bytes(self.serializer.serialize_to_request(self.params, self.operation_model)["body"])


class _DeferringSerializer:
    """A DynamoDB client's request serialiser (botocore's validation around its JSON serialiser) that, for an
    operation the direct path answers, validates the parameters as before and keeps them as the body instead of
    writing JSON text that the direct path would only parse back (~40 % of a batch write's CPU)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def serialize_to_request(self, parameters: Any, operation_model: Any) -> Any:
        if not _active[0] or operation_model.name not in DIRECT_OPERATIONS or operation_model.endpoint:
            return self.inner.serialize_to_request(parameters, operation_model)  # (an endpoint: a host prefix)
        from botocore.exceptions import ParamValidationError

        input_shape = operation_model.input_shape
        if input_shape is not None:
            report = self.inner._param_validator.validate(parameters, input_shape)
            if report.has_errors():
                raise ParamValidationError(report=report.generate_report())
        serializer = self.inner._serializer
        request = serializer.serialize_to_request({}, operation_model)  # method, URL path and headers, as ever
        request["body"] = _DeferredBody(parameters, operation_model, serializer)
        return request


def _defer_serialisation(client: Any) -> None:
    """Give a new DynamoDB client the deferring serialiser (a client whose validation is off keeps its own)."""
    inner = client._serializer
    if hasattr(inner, "_param_validator") and hasattr(inner, "_serializer"):
        client._serializer = _DeferringSerializer(inner)


def _as_json_gives(value: Any) -> Any:
    """What a JSON round trip makes of a value (a ``str`` subclass becomes a ``str``, a tuple a list)."""
    return json.loads(json.dumps(value))


_deferred_parsers: dict[type, type] = {}


def _deferred_parser(base: Any) -> Any:
    """``_request_parser(base)`` reading a ``_DeferredBody``: its parameters stand for the JSON text's parse, with the
    leaves botocore's serialiser would have changed changed the same way (blobs and timestamps serialised first)."""
    parser = _deferred_parsers.get(base)
    if parser is not None:
        return parser
    from moto.core.parse import BaseJSONParser

    class DeferredParser(_request_parser(base)):  # type: ignore[misc]
        serializer: Any = None

        def _parse_body_as_json(self, body_contents: Any) -> Any:
            if isinstance(body_contents, _DeferredBody):
                return body_contents.params
            return super()._parse_body_as_json(body_contents)

        def _parse_string(self, shape: Any, value: Any) -> Any:
            return value if type(value) is str else _as_json_gives(value)

        def _parse_boolean(self, shape: Any, value: Any) -> Any:
            return value if type(value) is bool else _as_json_gives(value)

        def _parse_blob(self, shape: Any, value: Any) -> Any:
            return BaseJSONParser._parse_blob(self, shape, self.serializer._get_base64(value))

        def _parse_timestamp(self, shape: Any, value: Any) -> Any:
            serialised = self.serializer._convert_timestamp_to_str(value, shape.serialization.get("timestampFormat"))
            return BaseJSONParser._parse_timestamp(self, shape, _as_json_gives(serialised))

        def _parse_structure(self, shape: Any, value: Any) -> Any:
            if shape.is_document_type:
                return _as_json_gives(value)
            return super()._parse_structure(shape, value)

    _deferred_parsers[base] = DeferredParser
    return DeferredParser


def _direct_call(model: Any, params: dict[str, Any], request_signer: Any = None, **_: Any) -> Any:
    """botocore ``before-call`` handler: the operation run by moto's DynamoHandler in this thread.

    Returns ``(http_response, parsed_response)`` as botocore expects from a before-call handler, or
    None to let the call take the ordinary path (an operation not handled here, a custom endpoint,
    moto not active)."""
    body = params.get("body")
    url = params.get("url", "")
    if not _active[0] or model.name not in DIRECT_OPERATIONS or not moto_would_serve(url, "dynamodb"):
        if isinstance(body, _DeferredBody):  # the ordinary path sends the JSON text
            params["body"] = body.encoded()
        return None
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.utils import get_service_model
    from moto.dynamodb.responses import DynamoHandler

    handler = DynamoHandler()
    headers = prepared(handler, url, params, request_signer)
    handler.querystring = {}
    moto_model = get_service_model("dynamodb").operation_model(model.name)
    if isinstance(body, _DeferredBody):
        parser = _deferred_parser(PROTOCOL_PARSERS["json"])(moto_model, map_type=handler.PROTOCOL_PARSER_MAP_TYPE)
        parser.serializer = body.serializer
    else:
        parser = _request_parser(PROTOCOL_PARSERS["json"])(moto_model, map_type=handler.PROTOCOL_PARSER_MAP_TYPE)
    handler.params = parser.parse({"body": body or b"", "headers": headers})  # type: ignore[typeddict-item]
    handler.body = handler.params
    with _LOCK:
        # DynamoDB's answers carry a checksum of their body (x-amz-crc32), which botocore checks.
        return answered(handler, "dynamodb", model, moto_model.output_shape, url, crc32=True)


@contextlib.contextmanager
def direct_dispatch() -> Iterator[None]:
    """Signing, werkzeug requests, URL dispatch and moto's serialiser cost 2-4 ms per in-process call.

    So an in-process call goes straight to moto's DynamoHandler method (the serialiser alone was a
    quarter of ``accesswatch run``'s CPU); answers and errors are what botocore parses on the
    ordinary path. Registered on every DynamoDB client created while the runtime runs."""
    with on_new_clients("dynamodb", _direct_call, _HANDLER_ID, _active, on_client=_defer_serialisation):
        yield


# ---------------------------------------------------------------------------------------------------
# Query by partition: candidates from the partition (base table) or a per-index map (GSIs).
# ---------------------------------------------------------------------------------------------------

_generation = [0]


class _TableKeys:
    """Per table: for each queried GSI, hash key value(s) -> items, kept in step with every write
    through the primary keys written since the last query (``dirty``)."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.dirty: set[tuple[Any, Any]] = set()
        # index name -> (hash attribute names, hash values -> {primary key: item}, primary key -> hash values)
        self.indexes: dict[str, tuple[list[str], dict[Any, dict[Any, Any]], dict[Any, Any]]] = {}
        self.unusable: set[str] = set()

    def __deepcopy__(self, memo: Any) -> None:
        return None  # a copied table (backups, restores) builds its own


def _keys_of(table: Any) -> _TableKeys:
    state = table.__dict__.get("_accesswatch_keys")
    if not isinstance(state, _TableKeys) or state.generation != _generation[0]:
        state = table.__dict__["_accesswatch_keys"] = _TableKeys(_generation[0])
    return state


def _written(table: Any, hash_key: Any, range_key: Any) -> None:
    state = table.__dict__.get("_accesswatch_keys")
    if isinstance(state, _TableKeys) and state.indexes:
        state.dirty.add((hash_key, range_key))


def _stored(table: Any, hash_key: Any, range_key: Any) -> Any:
    stored = table.items.get(hash_key)
    if table.range_key_attr is None or stored is None:
        return stored
    return stored.get(range_key)


def _file(by_hash: dict[Any, dict[Any, Any]], filed: dict[Any, Any], attrs: list[str], pk: Any, item: Any) -> None:
    values = tuple(item.attrs.get(name) for name in attrs)
    if any(value is None for value in values):
        return
    by_hash.setdefault(values, {})[pk] = item
    filed[pk] = values


def _unfile(by_hash: dict[Any, dict[Any, Any]], filed: dict[Any, Any], pk: Any) -> None:
    values = filed.pop(pk, None)
    if values is not None:
        bucket = by_hash.get(values)
        if bucket is not None:
            bucket.pop(pk, None)
            if not bucket:
                del by_hash[values]


def _all_stored(table: Any) -> Iterator[tuple[Any, Any]]:
    for hash_key, stored in list(table.items.items()):
        if table.range_key_attr is None:
            yield (hash_key, None), stored
        else:
            for range_key, item in list(stored.items()):
                yield (hash_key, range_key), item


def _index_candidates(table: Any, index_name: str, hash_attrs: list[str], values: tuple[Any, ...]) -> list[Any] | None:
    state = _keys_of(table)
    if index_name in state.unusable:
        return None
    try:
        if state.dirty:
            for pk in state.dirty:
                item = _stored(table, *pk)
                for attrs, index_by_hash, index_filed in state.indexes.values():
                    _unfile(index_by_hash, index_filed, pk)
                    if item is not None:
                        _file(index_by_hash, index_filed, attrs, pk, item)
            state.dirty.clear()
        if index_name not in state.indexes:
            by_hash: dict[Any, dict[Any, Any]] = {}
            filed: dict[Any, Any] = {}
            for pk, item in _all_stored(table):
                _file(by_hash, filed, hash_attrs, pk, item)
            state.indexes[index_name] = (hash_attrs, by_hash, filed)
        return list(state.indexes[index_name][1].get(values, {}).values())
    except TypeError:  # an unhashable key value (a set, a list): moto's own scan answers
        state.unusable.add(index_name)
        state.indexes.pop(index_name, None)
        return None


def _query_candidates(table: Any, hash_key: Any, index_name: str | None,
                      hash_key_conditions: list[tuple[str, Any]] | None) -> list[Any] | None:
    """A superset of the items moto's query keeps from ``all_items()`` (every item with the queried
    hash key), or None for moto's own full listing."""
    if not index_name:
        if hash_key is None:
            return None
        stored = table.items.get(hash_key)
        if stored is None:
            return []
        return list(stored.values()) if table.range_key_attr is not None else [stored]
    index = next((i for i in table.all_indexes() if i.name == index_name), None)
    if index is None:
        return None
    hash_attrs = [key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH"]
    conditions = dict(hash_key_conditions or [])
    if not hash_attrs or len(conditions) != len(hash_key_conditions or []) or set(conditions) != set(hash_attrs):
        return None
    if hash_attrs == [table.hash_key_attr]:  # a local index: the table's partition
        return _query_candidates(table, conditions[table.hash_key_attr], None, None)
    return _index_candidates(table, index_name, hash_attrs, tuple(conditions[name] for name in hash_attrs))


def _sorted_items(table: Any, hash_key_attrs: list[str], range_key_attrs: list[Any], items: list[Any]) -> list[Any]:
    """moto's ``Table.sorted_items`` (a sort on tuples of DynamoTypes, each comparison computing
    ``cast_value`` anew), with plain values as the key when every key attribute holds the same scalar
    type in every item: the same order (DynamoType compares scalars of one type by their value),
    without ~50 DynamoType comparisons per item."""
    from decimal import Decimal

    from moto.dynamodb.models.table import Table

    names = table._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
    keys: list[tuple[Any, ...]] = []
    types: list[str | None] = [None] * len(names)
    try:
        for item in items:
            key = []
            for position, name in enumerate(names):
                value = item.attrs[name]
                kind = value.type
                if types[position] is None:
                    types[position] = kind
                if kind != types[position] or kind not in ("S", "N", "B"):
                    raise TypeError(kind)
                key.append(Decimal(value.value) if kind == "N" else value.value)
            keys.append(tuple(key))
    except (KeyError, TypeError, ArithmeticError):  # moto's own sort says what is wrong, or copes
        return Table.sorted_items(table, hash_key_attrs, range_key_attrs, items)
    order = sorted(range(len(items)), key=keys.__getitem__)
    items[:] = [items[position] for position in order]
    return items


@contextlib.contextmanager
def query_by_partition() -> Iterator[None]:
    """moto's Query lists and sorts the whole table for every call (21 ms at 1k items, 761 ms at 40k).

    Here it starts from the queried partition, or from a per-index map of GSI hash keys kept in step
    with every write, sorts an index's items by plain values, and moto's own code filters and pages
    as before."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    original_put = Table.put_item
    original_delete = Table.delete_item
    original_update = DynamoDBBackend.update_item

    def query(table: Any, *args: Any, **kwargs: Any) -> Any:
        hash_key = args[0] if args else kwargs.get("hash_key")
        index_name = args[7] if len(args) > 7 else kwargs.get("index_name")
        candidates = _query_candidates(table, hash_key, index_name, kwargs.get("hash_key_conditions"))
        if candidates is None:
            return original_query(table, *args, **kwargs)
        table.all_items = lambda: candidates  # moto's query starts from all_items()
        table.sorted_items = functools.partial(_sorted_items, table)
        try:
            return original_query(table, *args, **kwargs)
        finally:
            del table.all_items, table.sorted_items

    def put_item(table: Any, *args: Any, **kwargs: Any) -> Any:
        item = original_put(table, *args, **kwargs)
        _written(table, item.hash_key, item.range_key)
        return item

    def delete_item(table: Any, hash_key: Any, range_key: Any) -> Any:
        try:
            return original_delete(table, hash_key, range_key)
        finally:
            _written(table, hash_key, range_key)

    def update_item(backend: Any, table_name: str, key: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original_update(backend, table_name, key, *args, **kwargs)
        finally:  # the item is changed in place, perhaps before a later step failed
            with contextlib.suppress(Exception):
                table = backend.get_table(table_name)
                if isinstance(key, dict) and table.hash_key_attr in key:
                    from moto.dynamodb.models.dynamo_type import DynamoType

                    range_value = key.get(table.range_key_attr) if table.range_key_attr else None
                    _written(table, DynamoType(key[table.hash_key_attr]),
                             DynamoType(range_value) if range_value is not None else None)

    _generation[0] += 1  # maps built under an earlier runtime are stale
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(Table, "query", query))
        stack.enter_context(mock.patch.object(Table, "put_item", put_item))
        stack.enter_context(mock.patch.object(Table, "delete_item", delete_item))
        stack.enter_context(mock.patch.object(DynamoDBBackend, "update_item", update_item))
        try:
            yield
        finally:
            _generation[0] += 1


# ---------------------------------------------------------------------------------------------------
# Transactions that copy only the items they touch.
# ---------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def transactions_without_table_copies() -> Iterator[None]:
    """moto's TransactWriteItems deep-copies every table it touches to roll back (39 ms at 1k items, 2.35 s at 40k).

    Here it keeps a copy of each item before writing it and puts those back on failure: the same
    all-or-nothing outcome and the same CancellationReasons (moto's own code for tables with streams)."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items

    def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = backend.tables.get(op.get("TableName"))
            if table is not None and table.stream_shard is not None:
                return original(backend, transact_items)  # stream records: moto's own rollback
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        saved: list[tuple[Any, Any, Any, Any]] = []  # (table, hash key, range key, the item before)
        saved_keys: set[tuple[int, Any, Any]] = set()

        def save(table_name: str, key: dict[str, Any]) -> None:
            table = backend.get_table(table_name)
            hash_key, range_key = backend.get_keys_value(table, key)
            if (id(table), hash_key, range_key) not in saved_keys:
                saved_keys.add((id(table), hash_key, range_key))
                saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))

        def roll_back() -> None:
            for table, hash_key, range_key, before in reversed(saved):
                if before is None:
                    with contextlib.suppress(KeyError):
                        if range_key is not None:
                            table.items[hash_key].pop(range_key)
                            if not table.items[hash_key]:
                                del table.items[hash_key]
                        else:
                            table.items.pop(hash_key)
                elif range_key is not None:
                    table.items[hash_key][range_key] = before
                else:
                    table.items[hash_key] = before
                _written(table, hash_key, range_key)

        target_items: set[tuple[str, str]] = set()

        def check_unicity(table_name: str, key: dict[str, Any]) -> None:
            item = (str(table_name), str(dict(sorted(key.items()))))
            if item in target_items:
                raise MultipleTransactionsException()
            target_items.add(item)

        # What follows is moto's transact_write_items, with save() before each write.
        errors: list[tuple[Any, Any, Any]] = []
        for item in transact_items:
            original_item: dict[str, Any] | None = None
            if len(list(item.keys())) > 1:
                roll_back()
                raise TransactWriteSingleOpException
            try:
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")
                table_name = op["TableName"]
                condition_expression = op.get("ConditionExpression")
                expression_attribute_names = op.get("ExpressionAttributeNames")
                expression_attribute_values = op.get("ExpressionAttributeValues")
                return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")
                if op_type == "Put":
                    attrs = op["Item"]
                    table = backend.get_table(table_name)
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]
                check_unicity(table_name, key)
                current = backend.get_item(table_name, key)
                if condition_expression is not None:
                    condition_op = get_filter_expression(
                        condition_expression, expression_attribute_names, expression_attribute_values)
                    if not condition_op.expr(current):
                        if return_values_on_condition_check_failure == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)
                if op_type == "Put":
                    save(table_name, key)
                    backend.put_item(
                        table_name, op["Item"], condition_expression=condition_expression,
                        expression_attribute_names=expression_attribute_names,
                        expression_attribute_values=expression_attribute_values)
                elif op_type == "Delete":
                    save(table_name, key)
                    backend.delete_item(
                        table_name, key, condition_expression=condition_expression,
                        expression_attribute_names=expression_attribute_names,
                        expression_attribute_values=expression_attribute_values)
                elif op_type == "Update":
                    save(table_name, key)
                    backend.update_item(
                        table_name, key, update_expression=op["UpdateExpression"],
                        condition_expression=condition_expression,
                        expression_attribute_names=expression_attribute_names,
                        expression_attribute_values=expression_attribute_values)
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                roll_back()
                raise
            except ConditionalCheckFailed as e:
                errors.append(("ConditionalCheckFailed", str(e.message), original_item))
            except Exception as e:  # noqa: BLE001 - moto records any other failure as a reason
                errors.append((type(e).__name__, str(e), original_item))
        if any(code is not None for code, _, _ in errors):
            roll_back()
            raise TransactionCanceledException(errors)

    with mock.patch.object(DynamoDBBackend, "transact_write_items", transact_write_items):
        yield


# ---------------------------------------------------------------------------------------------------
# UpdateExpressions parsed once.
# ---------------------------------------------------------------------------------------------------

_EXPRESSIONS_KEPT = 4096


@contextlib.contextmanager
def update_expressions_parsed_once() -> Iterator[None]:
    """moto parses every UpdateExpression afresh, twice per UpdateItem, and deep-copies it per validation (~0.5 ms each).

    Here each distinct expression is parsed once and its tree kept pickled: every use unpickles a
    fresh tree, and the validator's copy of a tree given out here is unpickled too (~0.1 ms each).
    An expression that does not parse raises as before, every time."""
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.ast_nodes import Node  # type: ignore[attr-defined]
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    original = UpdateExpressionParser.__dict__["make"].__func__
    real_deepcopy = validators.deepcopy
    kept: dict[str, bytes] = {}

    def make(cls: Any, expression_str: str) -> Any:
        pickled = kept.get(expression_str)
        if pickled is not None:
            tree = pickle.loads(pickled)  # noqa: S301 - our own pickle of moto's tree, in this process
        else:
            tree = original(cls, expression_str)
            try:
                pickled = pickle.dumps(tree)
            except Exception:  # noqa: BLE001 - a tree that does not pickle is parsed every time
                return tree
            if len(kept) < _EXPRESSIONS_KEPT:
                kept[expression_str] = pickled
        tree.__dict__["_accesswatch_pickled"] = pickled  # moto never changes a parsed tree: it copies it
        return tree

    def deepcopy(value: Any, memo: Any = None) -> Any:
        pickled = value.__dict__.get("_accesswatch_pickled") if isinstance(value, Node) else None
        if pickled is not None and memo is None:
            return pickle.loads(pickled)  # noqa: S301 - as above
        return real_deepcopy(value, memo)

    with mock.patch.object(UpdateExpressionParser, "make", classmethod(make)), \
            mock.patch.object(validators, "deepcopy", deepcopy):
        yield


# ---------------------------------------------------------------------------------------------------
# Condition and filter expressions parsed once per expression, names and values.
# ---------------------------------------------------------------------------------------------------

_CONDITIONS_KEPT = 4096
# An expression kept with this many different values, each found again at most once on average (moto parses a
# condition twice per write: a version number or a time makes each write's values new) is parsed by moto from then on,
# not kept: keeping it only cost a repr and a pickle per use, and its entries crowded out the expressions that do
# repeat (the cache is emptied when full).
_MISSES_BEFORE_GIVING_UP = 64


@contextlib.contextmanager
def condition_expressions_parsed_once() -> Iterator[None]:
    """moto parses a ConditionExpression twice per conditional write (and a FilterExpression per query), ~0.1-0.2 ms each.

    Here each parse's tree is kept pickled under the expression, its names, the placeholders given
    and the values it looked up (their repr; the tree holds no other): every use unpickles a fresh tree and records the same
    names and values found; an expression that does not parse raises as before, every time. An expression whose values
    differ at every write (``_MISSES_BEFORE_GIVING_UP``) is left to moto."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = ConditionExpressionParser.parse
    # (expression, names) -> the value placeholders its parse looked up (its tree holds no other value)
    used_by: dict[tuple[str, str], tuple[str, ...]] = {}
    kept: dict[tuple[str, str, str], tuple[bytes, list[str], list[str]]] = {}
    uses: dict[tuple[str, str], list[int]] = {}  # (expression, names) -> [parses kept, parses found kept]

    def values_key(values: Any, used: tuple[str, ...]) -> str:
        """The placeholders given (a missing one fails the lookup) and the values of those looked up."""
        if not isinstance(values, dict):
            return repr(values)
        return repr((sorted(values), [values.get(placeholder, _MISSING) for placeholder in used]))

    def parse(parser: Any) -> Any:
        expression = parser.condition_expression
        if not expression or not isinstance(expression, str):
            return original(parser)
        names_key = (expression, repr(parser.expression_attribute_names))
        counts = uses.get(names_key)
        if counts is None:
            if len(uses) >= _CONDITIONS_KEPT:
                uses.clear()
            counts = uses[names_key] = [0, 0]
        if counts[0] >= _MISSES_BEFORE_GIVING_UP and counts[1] <= counts[0]:
            return original(parser)
        used = used_by.get(names_key)
        values = parser.expression_attribute_values
        found = kept.get((*names_key, values_key(values, used))) if used is not None else None
        if found is not None:
            counts[1] += 1
            tree = pickle.loads(found[0])  # noqa: S301 - our own pickle of moto's tree, in this process
            parser.expr_attr_names_found.extend(found[1])
            parser.expr_attr_values_found.extend(found[2])
            return tree
        counts[0] += 1
        names_before = len(parser.expr_attr_names_found)
        values_before = len(parser.expr_attr_values_found)
        tree = original(parser)
        values_found = list(parser.expr_attr_values_found[values_before:])
        try:
            pickled = pickle.dumps(tree)
        except Exception:  # noqa: BLE001 - a tree that does not pickle is parsed every time
            return tree
        if len(kept) >= _CONDITIONS_KEPT:
            kept.clear()
            used_by.clear()
        used = used_by[names_key] = tuple(dict.fromkeys(values_found))
        kept[(*names_key, values_key(values, used))] = (
            pickled, list(parser.expr_attr_names_found[names_before:]), values_found)
        return tree

    with mock.patch.object(ConditionExpressionParser, "parse", parse):
        yield


# ---------------------------------------------------------------------------------------------------
# UpdateExpression validators that look up their node types once per walk.
# ---------------------------------------------------------------------------------------------------

# classes of a processing map -> node type -> position of the first class the type is a subclass of, or -1
_first_matches: dict[tuple[type, ...], dict[type, int]] = {}
_is_node: dict[type, bool] = {}  # node type -> a moto Node?


@contextlib.contextmanager
def update_validation_without_lookups() -> Iterator[None]:
    """moto's UpdateExpression validators rebuild their processing map twice per node, with an ABC isinstance per class (a third of an update_item).

    Here each walk of moto's ten processors builds the map once and remembers, per node type, which
    class of the map matches first: the same nodes visited in the same order, the same processors
    called, the same tree (processors that override the walk keep moto's)."""
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node  # type: ignore[attr-defined]

    original = DepthFirstTraverser.traverse
    default_walk = DepthFirstTraverser.traverse_node_recursively
    default_process = DepthFirstTraverser.process
    default_types = DepthFirstTraverser.nodes_to_be_processed

    def traverse(processor: Any, node: Any) -> Any:
        kind = type(processor)
        if (kind.traverse_node_recursively is not default_walk or kind.process is not default_process
                or kind.nodes_to_be_processed is not default_types):
            return original(processor, node)
        mapping = processor._processing_map()
        classes = tuple(mapping)
        functions = list(mapping.values())
        matches = _first_matches.setdefault(classes, {})
        is_node = _is_node
        pre_processing = processor.pre_processing_of_child

        def walk(current: Any, child_id: int) -> Any:
            current_type = type(current)
            known = is_node.get(current_type)
            if known is None:
                known = is_node[current_type] = isinstance(current, Node)
            if not known:
                return current
            parent_node = current.parent
            if current.children is not None:
                for i, child_node in enumerate(current.children):
                    pre_processing(current, i)
                    walk(child_node, i)
            position = matches.get(current_type)
            if position is None:
                position = matches[current_type] = next(
                    (n for n, cls in enumerate(classes) if isinstance(current, cls)), -1)
            if position >= 0:
                current = functions[position](current)
                current.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = current
            return current

        return walk(node, -1)

    with mock.patch.object(DepthFirstTraverser, "traverse", traverse):
        yield


# ---------------------------------------------------------------------------------------------------
# UpdateItem without whole-item copies.
# ---------------------------------------------------------------------------------------------------

class _Snapshot:
    """What moto's UpdateItem handler reads of its copy of the item before the update: its JSON."""

    def __init__(self, item: Any) -> None:
        self._json = item.to_json()

    def to_json(self) -> dict[str, Any]:
        return self._json


class _CopyModule:
    """moto's module's view of ``copy``: its ``deepcopy`` of an Item as ``item_copy`` says, the rest as is."""

    def __init__(self, item_class: type, item_copy: Callable[[Any], Any]) -> None:
        self._item_class = item_class
        self._item_copy = item_copy

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if memo is None and type(value) is self._item_class:
            kept = self._item_copy(value)
            if kept is not None:
                return kept
        return copy.deepcopy(value, memo)


_no_stream_update = threading.local()


@contextlib.contextmanager
def update_item_without_item_copies() -> Iterator[None]:
    """moto's UpdateItem deep-copies the item twice: for the old values of its answer, and for a stream record (a fifth of an update_item).

    Here the handler keeps the old item's JSON (all it reads of its copy: ``to_json`` copies every
    value anyway), and the backend copies the item only for a table with a stream (the only use of
    its copy)."""
    from moto.dynamodb import models, responses
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import Item

    original_update = DynamoDBBackend.update_item

    def backend_copy(item: Any) -> Any:
        return item if getattr(_no_stream_update, "active", False) else None

    def update_item(backend: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        table = backend.tables.get(table_name)
        active = getattr(_no_stream_update, "active", False)
        _no_stream_update.active = table is not None and table.stream_shard is None
        try:
            return original_update(backend, table_name, *args, **kwargs)
        finally:
            _no_stream_update.active = active

    with mock.patch.object(responses, "copy", _CopyModule(Item, _Snapshot)), \
            mock.patch.object(models, "copy", _CopyModule(Item, backend_copy)), \
            mock.patch.object(DynamoDBBackend, "update_item", update_item):
        yield


# ---------------------------------------------------------------------------------------------------
# Items sized, built and written out in linear time.
# ---------------------------------------------------------------------------------------------------

_SET_TYPES = frozenset({"SS", "NS", "BS"})


class _Unusual(Exception):
    """A value the fast size does not reproduce exactly (a nested value that is not a DynamoType)."""


def _fast_size(value: Any, bytesize: Callable[[Any], int], dynamo_type: type) -> int:
    """``DynamoType.size`` without building a DynamoType per map entry and set member (moto copies the
    whole subtree of every map value, then sizes the copy): the same sum of the same terms."""
    kind = value.type
    inner = value.value
    if kind == "N":
        return len(str(inner))
    if kind in _SET_TYPES:
        sub_type = kind[0]  # each member sized as DynamoType({sub_type: member})
        if sub_type == "N":
            return sum(len(str(member)) for member in inner)
        return sum(1 if isinstance(member, bool) else bytesize(member) for member in inner)
    if kind == "L":
        total = 0
        for member in inner:
            if type(member) is not dynamo_type:
                raise _Unusual
            total += _fast_size(member, bytesize, dynamo_type)
        return total
    if kind == "M":
        total = 0
        for key, member in inner.items():
            if type(member) is not dynamo_type:
                raise _Unusual
            total += bytesize(key) + _fast_size(member, bytesize, dynamo_type)
        return total
    if isinstance(inner, bool):
        return 1
    return bytesize(inner)


@contextlib.contextmanager
def items_in_linear_time() -> Iterator[None]:
    """moto sizes an item afresh per attribute added, copies each map value to size it, and deep-copies at every level of a nested value to write it out.

    Here ``DynamoType.size`` sums the same terms without copies, an Item is built with a running
    size (moto's check: the size so far plus the new attribute's > 405000 raises ItemSizeTooLarge,
    at the same attribute), and ``to_regular_json`` copies each value once: the same numbers, the
    same errors, equal JSON."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models import dynamo_type as module
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    original_size = DynamoType.size
    deepcopy = copy.deepcopy
    b64decode = base64.b64decode

    def size(value: Any) -> int:
        if type(value) is not DynamoType:  # a subclass may size itself otherwise
            return original_size(value)
        try:
            return _fast_size(value, bytesize, DynamoType)
        except _Unusual:
            return original_size(value)

    def item_init(item: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        item.hash_key = hash_key
        item.range_key = range_key
        item.attrs = stored = LimitedSizeDict()
        if type(stored).__setitem__ is not limited_setitem:  # moto's check changed: use it
            for key, value in attrs.items():
                stored[key] = DynamoType(value)
            return
        total = 0
        for key, value in attrs.items():
            member = DynamoType(value)
            added = bytesize(key) + member.size()
            if total + added > 405000:
                raise ItemSizeTooLarge
            dict.__setitem__(stored, key, member)
            total += added

    def to_regular_json(value: Any) -> dict[str, Any]:
        inner = value.value
        if isinstance(inner, dict):
            inner = {key: (member.to_regular_json() if isinstance(member, DynamoType) else deepcopy(member))
                     for key, member in inner.items()}
        elif isinstance(inner, list):
            inner = [member.to_regular_json() if isinstance(member, DynamoType) else deepcopy(member)
                     for member in inner]
        else:
            inner = deepcopy(inner)
        if value.is_binary() and isinstance(inner, str):
            inner = b64decode(inner)
        return {value.type: inner}

    limited_setitem = LimitedSizeDict.__setitem__
    if module.Item is not Item:  # pragma: no cover - moto's layout changed
        yield
        return
    with mock.patch.object(DynamoType, "size", size), mock.patch.object(Item, "__init__", item_init), \
            mock.patch.object(DynamoType, "to_regular_json", to_regular_json):
        yield


# ---------------------------------------------------------------------------------------------------
# An UpdateExpression's structural checks passed once per expression, names and table key.
# ---------------------------------------------------------------------------------------------------

_CHECKED_KEPT = 4096


@contextlib.contextmanager
def update_expression_checks_once() -> Iterator[None]:
    """moto checks an UpdateExpression's clause counts, overlapping paths and key attributes at every UpdateItem, walking
    the whole tree once per clause type (``find_clauses``): a third of validating an update.

    Those verdicts depend only on the expression (its tree, known by the pickle ``update_expressions_parsed_once``
    keeps of it), its attribute names and the table's key attributes: an update whose expression, names and key
    passed them once skips them after. One that failed runs them again and raises again; the processors that read
    values or the item always run, in moto's order."""
    from moto.dynamodb.parsing.validators import (
        ActionCountValidator,
        OverlappingPathsValidator,
        UpdateExpressionValidator,
        UpdateHashRangeKeyValidator,
    )

    structural = (ActionCountValidator, OverlappingPathsValidator, UpdateHashRangeKeyValidator)
    original_init = UpdateExpressionValidator.__init__
    passed: set[tuple[bytes, str, tuple[str, ...]]] = set()

    def init(validator: Any, expression: Any, expression_attribute_names: Any, expression_attribute_values: Any,
             item: Any, table: Any) -> None:
        original_init(validator, expression, expression_attribute_names, expression_attribute_values, item, table)
        pickled = getattr(expression, "__dict__", {}).get("_accesswatch_pickled")
        validator._accesswatch_checked = None if pickled is None else (
            pickled, repr(expression_attribute_names), tuple(table.table_key_attrs))

    def validate(validator: Any) -> Any:
        key = validator._accesswatch_checked
        skip = key is not None and key in passed
        processors = validator.processors
        last = max((n for n, processor in enumerate(processors) if type(processor) in structural), default=-1)
        node = validator.node_to_validate
        for n, processor in enumerate(processors):
            if skip and type(processor) in structural:
                continue
            node = processor.traverse(node)
            if n == last and key is not None and not skip:  # every structural check has run, and passed
                if len(passed) >= _CHECKED_KEPT:
                    passed.clear()
                passed.add(key)
        return node

    with mock.patch.object(UpdateExpressionValidator, "__init__", init), \
            mock.patch.object(UpdateExpressionValidator, "validate", validate):
        yield


@contextlib.contextmanager
def adapted() -> Iterator[None]:
    """Every DynamoDB adapter, for as long as the runtime runs."""
    with serialised_dynamodb(), direct_dispatch(), query_by_partition(), transactions_without_table_copies(), \
            update_expressions_parsed_once(), update_expression_checks_once(), update_validation_without_lookups(), \
            update_item_without_item_copies(), items_in_linear_time(), condition_expressions_parsed_once():
        yield


__all__ = [
    "DIRECT_OPERATIONS",
    "adapted",
    "condition_expressions_parsed_once",
    "direct_dispatch",
    "items_in_linear_time",
    "query_by_partition",
    "serialised_dynamodb",
    "transactions_without_table_copies",
    "update_expression_checks_once",
    "update_expressions_parsed_once",
    "update_item_without_item_copies",
    "update_validation_without_lookups",
]
