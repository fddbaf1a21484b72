"""Direct dispatch of in-process boto3 calls to moto's Step Functions response class.

The same technique as ``dynamodb.direct_dispatch`` (whose converter, HTTP response and error parsing are
reused from there): a botocore ``before-call`` handler runs moto's response method in this thread and
gives botocore what it would have parsed from moto's answer. docs/local-runtime.md lists the adapter.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, parse_qsl, urlparse

from accesswatch_tools.embedded.adapters.dynamodb import (
    _access_key,
    _converter,
    _http_response,
    _parsed_error,
)

SERVICE = "stepfunctions"
# The calls the project makes (the detect and case-queue functions, the CLI, the console and the tools).
DIRECT_OPERATIONS = frozenset({
    "StartExecution", "DescribeExecution", "ListExecutions", "GetExecutionHistory", "StopExecution",
    "SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat",
})
_HANDLER_ID = "accesswatch-stepfunctions-direct-dispatch"
_active = [0]  # > 0 while some runtime has the direct dispatch on
_url_service: dict[str, str | None] = {}


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
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult
    from moto.core.utils import camelcase_to_underscores, get_service_model, utcnow
    from moto.iam.models import mark_account_as_visited
    from moto.stepfunctions.responses import StepFunctionResponse
    from moto.utilities.aws_headers import gen_amzn_requestid_long
    from werkzeug.datastructures import Headers
    from werkzeug.exceptions import HTTPException
    from werkzeug.http import http_date

    handler = StepFunctionResponse()
    headers = Headers(params.get("headers") or {})
    access_key = _access_key(request_signer)
    if access_key is not None and "Authorization" not in headers:
        # What moto reads the access key (and so the account) from on the ordinary path.
        headers["Authorization"] = f"AWS4-HMAC-SHA256 Credential={access_key}/"
    raw = params.get("body") or b""
    body = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    handler.headers = headers
    handler.body = body
    handler.raw_body = raw
    handler.uri = url
    handler.parsed_url = urlparse(url)
    handler.path = handler.parsed_url.path
    handler.method = "POST"
    handler.uri_match = {}
    handler.querystring = handler.data = _querystring(url, body, headers)
    if handler._get_action() != model.name:  # noqa: SLF001 - moto's own routing; e.g. an Action in the body
        return None
    match = handler.region_regex.search(url)
    handler.region = match.group(1) if match else handler.default_region
    handler.response_headers = {"server": "amazon.com", "date": http_date(utcnow())}
    handler.access_key = handler.get_access_key()
    handler.current_account = handler.get_current_account()
    mark_account_as_visited(account_id=handler.current_account, access_key=handler.access_key,
                            service=SERVICE, region=handler.region)
    method = getattr(handler, camelcase_to_underscores(model.name))
    try:
        response: Any = method()
    except ServiceException as error:
        status, error_headers, error_body = handler.serialized(ActionResult(error))
        error_headers["status"] = status
        response = error_body, error_headers
    except HTTPException as http_error:
        error_headers = dict(http_error.get_headers() or [])
        error_headers["status"] = http_error.code
        response = http_error.description, error_headers
    if isinstance(response, ActionResult):
        output = get_service_model(SERVICE).operation_model(model.name).output_shape
        # A result of None is serialised as an empty body, which botocore parses as {}.
        parsed = (_converter(output)(response.result) if output is not None else None) or {}
        request_id = gen_amzn_requestid_long(handler.response_headers)
        http_headers = {**handler.response_headers, "content-type": "application/x-amz-json-1.0",
                        "x-amzn-requestid": request_id}
        parsed["ResponseMetadata"] = {"RequestId": request_id, "HTTPStatusCode": 200,
                                      "HTTPHeaders": http_headers, "RetryAttempts": 0}
        return _http_response(url, 200, http_headers), parsed
    status, response_headers, error_text = handler._transform_response(handler.response_headers, response)  # noqa: SLF001
    response_headers, error_text = handler._enrich_response(response_headers, error_text)  # noqa: SLF001
    return _parsed_error(model, url, status, response_headers, error_text)


def _retried(events: Any, model: Any, params: dict[str, Any], request_signer: Any = None, **kwargs: Any) -> Any:
    """``_direct_call`` under the client's own retry policy (botocore's ``needs-retry``, which an answer from a
    before-call handler skips), with its delay slept, as on the ordinary path."""
    from botocore.hooks import first_non_none_response

    attempts = 0
    while True:
        attempts += 1
        response = _direct_call(model, params, request_signer, **kwargs)
        if response is None:
            return None
        delay = first_non_none_response(events.emit(
            f"needs-retry.{model.service_model.service_id.hyphenize()}.{model.name}", response=response, endpoint=None,
            operation=model, attempts=attempts, caught_exception=None, request_dict=params))
        if delay is None:
            response[1].setdefault("ResponseMetadata", {})["RetryAttempts"] = attempts - 1
            return response
        time.sleep(delay)


@contextlib.contextmanager
def stepfunctions_direct_dispatch() -> Iterator[None]:
    """Signing, werkzeug requests, URL dispatch and moto's serialiser were ~80 % of an in-process Step Functions
    call (start_execution, send_task_success, describe_execution...); the call goes straight to moto's
    StepFunctionResponse method instead, and the answers and errors are what botocore parses on the ordinary
    path. Registered on every Step Functions client created while the runtime runs."""
    from botocore.client import ClientCreator

    original = ClientCreator.create_client

    def create_client(creator: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(creator, *args, **kwargs)
        if client.meta.service_model.service_name == SERVICE:
            client.meta.events.register(f"before-call.{client.meta.service_model.service_id.hyphenize()}",
                                        functools.partial(_retried, client.meta.events), unique_id=_HANDLER_ID)
        return client

    _active[0] += 1
    try:
        with mock.patch.object(ClientCreator, "create_client", create_client):
            yield
    finally:
        _active[0] -= 1
