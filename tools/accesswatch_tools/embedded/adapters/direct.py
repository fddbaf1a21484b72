"""Direct dispatch of in-process boto3 calls to moto: what every service's dispatch shares, and Step Functions'.

A botocore ``before-call`` handler runs moto's response method in the calling thread and gives botocore what it
would have parsed from moto's answer (no signing, werkzeug request, URL dispatch or serialiser in between). The
DynamoDB dispatch (``dynamodb.direct_dispatch``) and the Step Functions one below are built from the pieces here.
docs/local-runtime.md lists the adapters.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, parse_qsl, urlparse

_url_service: dict[str, str | None] = {}
_converters: dict[int, tuple[Any, Callable[[Any], Any]]] = {}
_MISSING = object()
_BUILDING = threading.Lock()  # a structure converter's plan is built once (``_converter``)


def _service_of(url: str) -> str | None:
    """The service moto's stubber hands this URL to (the first service pattern it matches)."""
    if url not in _url_service:
        import moto.backend_index as backend_index
        from moto.core.utils import get_equivalent_url_in_aws_domain

        parsed, _ = get_equivalent_url_in_aws_domain(url)
        clean = f"{parsed.scheme}://{parsed.netloc}{parsed.path}"
        _url_service[url] = next((name for name, pattern in backend_index.backend_url_patterns
                                  if pattern.match(clean)), None)
    return _url_service[url]


def moto_would_serve(url: str, service: str) -> bool:
    """Everything moto's stubber checks before it serves a request, and moto features the direct path does not
    reproduce (request recording, IAM authorisation): the ordinary path takes those."""
    from moto import settings
    from moto.core.config import passthrough_service, passthrough_url, service_whitelisted
    from moto.core.models import botocore_stubber
    from moto.moto_api import recorder

    if not botocore_stubber.enabled or _service_of(url) != service:
        return False
    if passthrough_url(url.split("?", 1)[0]) or passthrough_service(service) or not service_whitelisted(service):
        return False
    return settings.INITIAL_NO_AUTH_ACTION_COUNT == float("inf") and not getattr(recorder, "_user_enabled", False)


def _access_key(request_signer: Any) -> str | None:
    credentials = getattr(request_signer, "_credentials", None)
    if credentials is None:
        return None
    return str(credentials.get_frozen_credentials().access_key)


def _structure_keys(structure: Any, member: str, member_shape: Any) -> tuple[str, ...]:
    """The keys moto's serialiser tries, in order, to find a member in a dict result."""
    from moto.core.serialize import AttributePickerContext, XFormedAttributePicker

    member_shape.parent = structure  # as moto's serialiser sets it before picking
    context = AttributePickerContext(obj={}, key=member, shape=member_shape)
    return tuple(dict.fromkeys(XFormedAttributePicker().get_possible_keys(context)))


def _converter(shape: Any) -> Callable[[Any], Any]:
    """A function giving, for a value of ``shape`` in a moto result, what botocore parses from what
    moto's serialiser writes for it (JSON protocol): the same walk, without the text in between."""
    cached = _converters.get(id(shape))
    if cached is not None and cached[0] is shape:
        return cached[1]
    kind = shape.type_name
    convert: Callable[[Any], Any]
    if kind == "structure" and not shape.is_document_type:
        members = list(shape.members.items())
        tagged_union = shape.is_tagged_union
        # (plan, by_key) once built, at the first value: ``plan`` has each member's name, the keys moto may
        # store it under, its shape and its converter (made at first use); ``by_key``: key -> the positions in
        # ``plan`` of the members it may be. Built whole before it is published: Step Functions calls convert
        # from many threads without the DynamoDB lock.
        Plan = list[tuple[str, tuple[str, ...], Any, list[Callable[[Any], Any]]]]  # noqa: N806 - a type
        built: list[tuple[Plan, dict[str, tuple[int, ...]]]] = []

        def build() -> None:
            with _BUILDING:
                if built:
                    return
                plan: Plan = [(name, _structure_keys(shape, name, member_shape), member_shape, [])
                        for name, member_shape in members]
                by_key: dict[str, tuple[int, ...]] = {}
                for position, (_name, keys, _shape, _conv) in enumerate(plan):
                    for key in keys:
                        by_key[key] = (*by_key.get(key, ()), position)
                built.append((plan, by_key))

        def convert(value: Any) -> Any:
            if not built:
                build()
            plan, by_key = built[0]
            if value is None:
                return None
            out = {}
            if isinstance(value, dict):
                rows = plan
                if len(value) * 2 < len(plan):  # a few keys (an AttributeValue): only the members they may be
                    rows = [plan[position] for position in sorted({
                        position for key in value for position in by_key.get(key, ())})]
                for name, keys, member_shape, conv in rows:
                    member_value = _MISSING
                    for key in keys:
                        member_value = value.get(key, _MISSING)
                        if member_value is not _MISSING:
                            break
                    if member_value is not _MISSING and member_value is not None:
                        if not conv:
                            conv.append(_converter(member_shape))
                        out[name] = conv[0](member_value)
            else:
                from moto.core.serialize import AttributePickerContext, XFormedAttributePicker

                picker = XFormedAttributePicker()
                for name, _keys, member_shape, _conv in plan:
                    member_shape.parent = shape
                    member_value = picker(AttributePickerContext(obj=value, key=name, shape=member_shape))
                    if member_value is not None:
                        out[name] = _converter(member_shape)(member_value)
            if tagged_union and len(out) != 1:
                from botocore.parsers import ResponseParserError

                raise ResponseParserError(
                    f"Invalid service response: {shape.name} must have one and only one member set.")
            return out
    elif kind == "structure":
        def convert(value: Any) -> Any:
            return value
    elif kind == "map":
        value_shape = shape.value

        def convert(value: Any) -> Any:
            sub = _converter(value_shape)
            return {key: sub(item) for key, item in value.items()}
    elif kind == "list":
        member_shape = shape.member

        def convert(value: Any) -> Any:
            sub = _converter(member_shape)
            return [None if item is None else sub(item) for item in value]
    elif kind == "string":
        from enum import Enum

        def convert(value: Any) -> Any:
            if isinstance(value, Enum):
                value = value.value
            return str(value) if value not in (None, {}, []) else value
    elif kind == "blob":
        def convert(value: Any) -> Any:
            # moto base64-encodes the value (text as UTF-8), botocore decodes it.
            data = value.encode("utf-8") if isinstance(value, str) else value
            return base64.b64decode(base64.b64encode(data).strip())
    elif kind in ("integer", "long"):
        def convert(value: Any) -> Any:
            return int(value)
    elif kind in ("float", "double"):
        def convert(value: Any) -> Any:
            return float(value)
    elif kind == "timestamp":
        from botocore.parsers import DEFAULT_TIMESTAMP_PARSER
        from moto.core.serialize import TimestampSerializer

        serializer = TimestampSerializer("unixtimestamp")

        def convert(value: Any) -> Any:
            holder: dict[str, Any] = {}
            serializer.serialize(holder, value, shape, "timestamp")
            return DEFAULT_TIMESTAMP_PARSER(holder["timestamp"])
    else:  # boolean and the rest: as the JSON says
        def convert(value: Any) -> Any:
            return value
    _converters[id(shape)] = (shape, convert)
    return convert


def _http_response(url: str, status: int, headers: dict[str, str], body: bytes = b"") -> Any:
    """The HTTP response botocore's handlers see: with the body its headers' checksum covers (the retry
    policy checks ``x-amz-crc32`` and retries a mismatch)."""
    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import MockRawResponse

    return AWSResponse(url, status, headers, MockRawResponse(body))  # type: ignore[arg-type]


def _parsed_error(model: Any, url: str, status: int, headers: dict[str, Any], body: Any) -> tuple[Any, Any]:
    """What botocore parses from moto's error response, as on the ordinary path (botocore's parser,
    then the modeled fields of the error shape, e.g. ``Item``, ``CancellationReasons``)."""
    from botocore.parsers import create_parser

    raw = body.encode("utf-8") if isinstance(body, str) else body
    string_headers = {key: str(value) for key, value in headers.items()}
    response_dict = {"headers": string_headers, "status_code": status, "body": raw}
    parser = create_parser(model.service_model.resolved_protocol)
    parsed = parser.parse(response_dict, model.output_shape)
    code = parsed.get("Error", {}).get("Code")
    error_shape = model.service_model.shape_for_error_code(code) if code is not None else None
    if error_shape is not None:
        parsed.update(parser.parse(response_dict, error_shape))
    parsed["ResponseMetadata"]["RetryAttempts"] = 0
    return _http_response(url, status, string_headers, raw), parsed


def prepared(handler: Any, url: str, params: dict[str, Any], request_signer: Any) -> Any:
    """``handler`` (a moto response class instance) set up as moto's dispatch sets it up for this request: its
    headers (with the caller's access key, which moto reads the account from), method, URL, region and response
    headers. Returns the request headers; the caller sets the query string and body."""
    from moto.core.utils import utcnow
    from werkzeug.datastructures import Headers
    from werkzeug.http import http_date

    headers = Headers(params.get("headers") or {})
    access_key = _access_key(request_signer)
    if access_key is not None and "Authorization" not in headers:
        # What moto reads the access key (and so the account) from on the ordinary path.
        headers["Authorization"] = f"AWS4-HMAC-SHA256 Credential={access_key}/"
    handler.headers = headers
    handler.method = "POST"
    handler.uri = url
    match = handler.region_regex.search(url)
    handler.region = match.group(1) if match else handler.default_region
    handler.response_headers = {"server": "amazon.com", "date": http_date(utcnow())}
    return headers


def answered(handler: Any, service: str, model: Any, output_shape: Any, url: str, *, crc32: bool = False) -> Any:
    """Run the operation on a ``prepared`` handler (with its query string and body set) and give what botocore parses from moto's answer, as
    ``(http_response, parsed)``: the result converted by the output shape, or moto's error parsed by botocore's own
    parser. ``crc32``: the error's body gets the checksum header the service sends (DynamoDB)."""
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult
    from moto.core.utils import camelcase_to_underscores
    from moto.iam.models import mark_account_as_visited
    from moto.utilities.aws_headers import gen_amz_crc32, gen_amzn_requestid_long
    from werkzeug.exceptions import HTTPException

    handler.access_key = handler.get_access_key()  # from the Authorization header, else the query string
    handler.current_account = handler.get_current_account()
    mark_account_as_visited(account_id=handler.current_account, access_key=handler.access_key,
                            service=service, region=handler.region)
    method = getattr(handler, camelcase_to_underscores(model.name))
    try:
        response: Any = method()
    except ServiceException as error:
        status, error_headers, body = handler.serialized(ActionResult(error))
        error_headers["status"] = status
        response = body, error_headers
    except HTTPException as http_error:
        error_headers = dict(http_error.get_headers() or [])
        error_headers["status"] = http_error.code
        response = http_error.description, error_headers
    if isinstance(response, ActionResult):
        # A result of None is serialised as an empty body, which botocore parses as {}.
        parsed = (_converter(output_shape)(response.result) if output_shape is not None else None) or {}
        request_id = gen_amzn_requestid_long(handler.response_headers)
        http_headers = {**handler.response_headers, "content-type": "application/x-amz-json-1.0",
                        "x-amzn-requestid": request_id}
        parsed["ResponseMetadata"] = {"RequestId": request_id, "HTTPStatusCode": 200,
                                      "HTTPHeaders": http_headers, "RetryAttempts": 0}
        return _http_response(url, 200, http_headers), parsed
    status, response_headers, body = handler._transform_response(handler.response_headers, response)  # noqa: SLF001
    response_headers, body = handler._enrich_response(response_headers, body)  # noqa: SLF001
    if crc32:
        gen_amz_crc32(body, response_headers)
    return _parsed_error(model, url, status, response_headers, body)


def retried(direct_call: Callable[..., Any], events: Any, model: Any, params: dict[str, Any],
            request_signer: Any = None, **kwargs: Any) -> Any:
    """``direct_call`` under the client's own retry policy: an answer from a before-call handler skips the loop in
    which botocore retries throttling and server errors (``needs-retry``), so the same event is asked here, with the
    same arguments, and its delay slept, as on the ordinary path."""
    from botocore.hooks import first_non_none_response

    attempts = 0
    while True:
        attempts += 1
        response = direct_call(model, params, request_signer, **kwargs)
        if response is None:
            return None
        delay = first_non_none_response(events.emit(
            f"needs-retry.{model.service_model.service_id.hyphenize()}.{model.name}", response=response,
            endpoint=None, operation=model, attempts=attempts, caught_exception=None, request_dict=params))
        if delay is None:
            response[1].setdefault("ResponseMetadata", {})["RetryAttempts"] = attempts - 1
            return response
        time.sleep(delay)


@contextlib.contextmanager
def on_new_clients(service: str, direct_call: Callable[..., Any], handler_id: str, active: list[int], *,
                   on_client: Callable[[Any], None] | None = None) -> Iterator[None]:
    """``direct_call`` (under the client's retry policy, ``retried``) registered as the ``before-call`` handler of
    every ``service`` client created while this runs (and ``on_client`` called with it); ``active[0]`` counts the
    runtimes that have it on."""
    from botocore.client import ClientCreator

    original = ClientCreator.create_client

    def create_client(creator: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(creator, *args, **kwargs)
        if client.meta.service_model.service_name == service:
            client.meta.events.register(f"before-call.{client.meta.service_model.service_id.hyphenize()}",
                                        functools.partial(retried, direct_call, client.meta.events),
                                        unique_id=handler_id)
            if on_client is not None:
                on_client(client)
        return client

    active[0] += 1
    try:
        with mock.patch.object(ClientCreator, "create_client", create_client):
            yield
    finally:
        active[0] -= 1


# ---------------------------------------------------------------------------------------------------
# Step Functions
# ---------------------------------------------------------------------------------------------------

SERVICE = "stepfunctions"
# The calls the project makes (the detect and case-queue functions, the CLI, the console and the tools).
DIRECT_OPERATIONS = frozenset({
    "StartExecution", "DescribeExecution", "ListExecutions", "GetExecutionHistory", "StopExecution",
    "SendTaskSuccess", "SendTaskFailure",
})
_HANDLER_ID = "accesswatch-stepfunctions-direct-dispatch"
_active = [0]  # > 0 while some runtime has the direct dispatch on


def _querystring(url: str, body: str, headers: Any) -> Any:
    """What moto's ``BaseResponse.setup_class`` makes of a JSON request (no form data): the URL's query, else
    the body read as a query string (moto reads parameters from it before the JSON body), else the headers."""
    from moto.core.responses import _decode_dict

    querystring: dict[str, Any] = OrderedDict()
    querystring.update(parse_qs(urlparse(url).query, keep_blank_values=True))
    if not querystring and body:
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError, AttributeError):
            querystring.update(OrderedDict((key, [value]) for key, value in parse_qsl(body, keep_blank_values=True)))
    if not querystring:
        querystring.update(headers)
    with contextlib.suppress(UnicodeDecodeError):
        querystring = _decode_dict(querystring)
    return querystring


def _direct_call(model: Any, params: dict[str, Any], request_signer: Any = None, **_: Any) -> Any:
    """botocore ``before-call`` handler: the operation run by moto's StepFunctionResponse in this thread.

    Returns ``(http_response, parsed_response)``, or None to let the call take the ordinary path (another
    operation, a custom endpoint, moto not active, a request moto would route to another action)."""
    if not _active[0] or model.name not in DIRECT_OPERATIONS:
        return None
    url = params.get("url", "")
    if not moto_would_serve(url, SERVICE):
        return None
    from moto.core.utils import get_service_model
    from moto.stepfunctions.responses import StepFunctionResponse

    handler = StepFunctionResponse()
    raw = params.get("body") or b""
    body = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    headers = prepared(handler, url, params, request_signer)
    handler.body = body
    handler.raw_body = raw
    handler.parsed_url = urlparse(url)
    handler.path = handler.parsed_url.path
    handler.uri_match = {}
    handler.querystring = handler.data = _querystring(url, body, headers)
    if handler._get_action() != model.name:  # noqa: SLF001 - moto's own routing; e.g. an Action in the body
        return None
    output_shape = get_service_model(SERVICE).operation_model(model.name).output_shape
    return answered(handler, SERVICE, model, output_shape, url)


@contextlib.contextmanager
def stepfunctions_direct_dispatch() -> Iterator[None]:
    """Signing, werkzeug requests, URL dispatch and moto's serialiser were ~80 % of an in-process Step Functions
    call (start_execution, send_task_success, describe_execution...); the call goes straight to moto's
    StepFunctionResponse method instead, and the answers and errors are what botocore parses on the ordinary
    path. Registered on every Step Functions client created while the runtime runs."""
    with on_new_clients(SERVICE, _direct_call, _HANDLER_ID, _active):
        yield
