"""The console on AWS as template.yaml declares it (docs/console.md): an HTTP API whose JWT authorizer checks a
Cognito id token on every route but the sign-in pages and static files, a user pool with one group per
role, an app client for the browser's code flow with PKCE, alarms, and a least-privilege function role
(checked on the CloudFormation the SAM translator makes of the template: moto enforces no IAM and skips
the API and Cognito resources)."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest
from support.sam_transform import transformed_template

from accesswatch.console.pages import auth
from accesswatch.console.roles import Role
from accesswatch_tools.embedded.template import PROJECT_ROOT, load_template, resources_of_type

TEMPLATE = load_template()
RES = TEMPLATE["Resources"]
API_URL = "https://${ConsoleApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
PUBLIC_ROUTES = {"GET /auth/{proxy+}", "GET /static/{proxy+}"}


def props(name: str) -> dict[str, Any]:
    return dict(RES[name]["Properties"])


def test_the_api_is_http_with_a_logged_throttled_default_stage():
    assert props("ConsoleApi")["ProtocolType"] == "HTTP"
    stage = props("ConsoleApiStage")
    assert (stage["ApiId"], stage["StageName"], stage["AutoDeploy"]) == ({"Ref": "ConsoleApi"}, "$default", True)
    assert stage["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["ConsoleApiAccessLogGroup", "Arn"]}
    log_format = stage["AccessLogSettings"]["Format"]
    assert "$context.requestId" in log_format and "$context.authorizer.error" in log_format
    # the route, never the path or a query string: paths and queries name clients (/cases/<id>/clients/<client id>)
    assert "querystring" not in log_format.lower() and "$context.path" not in log_format
    assert "$context.routeKey" in log_format
    assert 0 < stage["DefaultRouteSettings"]["ThrottlingRateLimit"] <= stage["DefaultRouteSettings"]["ThrottlingBurstLimit"]


def test_the_authorizer_verifies_an_id_token_of_this_pool_for_this_client():
    authorizer = props("ConsoleAuthorizer")
    assert authorizer["AuthorizerType"] == "JWT" and authorizer["ApiId"] == {"Ref": "ConsoleApi"}
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    assert authorizer["JwtConfiguration"] == {
        "Issuer": {"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${ConsoleUserPool}"},
        "Audience": [{"Ref": "ConsoleUserPoolClient"}]}


def test_every_route_goes_to_the_console_and_only_the_sign_in_and_static_routes_skip_the_authorizer():
    routes = resources_of_type(TEMPLATE, "AWS::ApiGatewayV2::Route")
    assert {r["Properties"]["RouteKey"] for r in routes.values()} == {"$default", *PUBLIC_ROUTES}
    for name, route in routes.items():
        p = route["Properties"]
        assert p["ApiId"] == {"Ref": "ConsoleApi"}, name
        assert p["Target"] == {"Fn::Sub": "integrations/${ConsoleIntegration}"}, name
        if p["RouteKey"] in PUBLIC_ROUTES:
            assert p["AuthorizationType"] == "NONE" and "AuthorizerId" not in p, name
        else:
            assert (p["AuthorizationType"], p["AuthorizerId"]) == ("JWT", {"Ref": "ConsoleAuthorizer"}), name
    # The handler serves exactly these prefixes without a principal (functions/console/app.py).
    app = (PROJECT_ROOT / "functions" / "console" / "app.py").read_text(encoding="utf-8")
    assert 'PUBLIC = ("/static/", "/auth/")' in app


def test_the_integration_and_its_permission_are_this_apis_only():
    integration = props("ConsoleIntegration")
    assert (integration["IntegrationType"], integration["PayloadFormatVersion"]) == ("AWS_PROXY", "2.0")
    assert integration["IntegrationUri"] == {"Fn::GetAtt": ["ConsoleFunction", "Arn"]}
    permission = props("ConsoleFunctionApiPermission")
    assert (permission["Principal"], permission["FunctionName"]) == ("apigateway.amazonaws.com", {"Ref": "ConsoleFunction"})
    assert permission["SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${ConsoleApi}/*"}
    assert "Events" not in props("ConsoleFunction")  # no second way in (SAM events would add routes)


def test_one_group_per_role_in_the_console_pool():
    groups = resources_of_type(TEMPLATE, "AWS::Cognito::UserPoolGroup")
    assert sorted(g["Properties"]["GroupName"] for g in groups.values()) == sorted(r.value for r in Role)
    assert all(g["Properties"]["UserPoolId"] == {"Ref": "ConsoleUserPool"} for g in groups.values())


def test_the_pool_admits_only_administrators_users_with_strong_passwords_and_a_second_factor():
    pool = props("ConsoleUserPool")
    assert pool["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    policy = pool["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 14 and policy["TemporaryPasswordValidityDays"] <= 7
    assert all(policy[k] for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols"))
    assert pool["MfaConfiguration"] == "ON" and pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert pool["AccountRecoverySetting"] == {"RecoveryMechanisms": [{"Name": "admin_only", "Priority": 1}]}
    assert pool["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}
    assert pool["DeletionProtection"] == "ACTIVE" and RES["ConsoleUserPool"]["DeletionPolicy"] == "Retain"
    assert props("ConsoleUserPoolDomain")["UserPoolId"] == {"Ref": "ConsoleUserPool"}


def test_the_app_client_is_a_public_code_flow_client_calling_back_to_the_sign_in_pages():
    client = props("ConsoleUserPoolClient")
    assert client["GenerateSecret"] is False  # a browser keeps no secret: PKCE instead (console.js)
    assert (client["AllowedOAuthFlows"], client["AllowedOAuthScopes"]) == (["code"], ["openid"])
    assert client["AllowedOAuthFlowsUserPoolClient"] is True and client["SupportedIdentityProviders"] == ["COGNITO"]
    assert client["CallbackURLs"] == [{"Fn::Sub": f"{API_URL}/auth/callback"}]
    assert client["LogoutURLs"] == [{"Fn::Sub": f"{API_URL}/auth/signed-out"}]
    assert client["PreventUserExistenceErrors"] == "ENABLED" and client["EnableTokenRevocation"] is True
    assert client["IdTokenValidity"] <= 60 and client["TokenValidityUnits"]["IdToken"] == "minutes"
    # The pages those URLs name exist, and the script sends people back to them.
    script = (PROJECT_ROOT / "layers/shared/accesswatch/console/static/console.js").read_text(encoding="utf-8")
    routes = {route[0] for route in auth.router._routes}
    for path in ("/auth/callback", "/auth/signed-out", "/auth/sign-in", auth.CONSOLE_PAGE):
        assert path in routes and f'"{path}"' in script, path


def test_the_function_gets_the_hosted_page_and_client_and_the_output_opens_the_console_page():
    env = props("ConsoleFunction")["Environment"]["Variables"]
    assert env["COGNITO_DOMAIN"] == {"Ref": "ConsoleUserPoolDomain"}
    assert env["COGNITO_CLIENT_ID"] == {"Ref": "ConsoleUserPoolClient"}
    assert TEMPLATE["Outputs"]["ConsoleUrl"]["Value"] == {"Fn::Sub": f"{API_URL}{auth.CONSOLE_PAGE}"}
    assert TEMPLATE["Outputs"]["ConsoleUserPoolId"]["Value"] == {"Ref": "ConsoleUserPool"}


def test_the_console_alarms_on_errors_throttles_and_slow_pages():
    alarms = {name: res["Properties"] for name, res in resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm").items()
              if res["Properties"].get("Dimensions") == [{"Name": "FunctionName", "Value": {"Ref": "ConsoleFunction"}}]}
    assert {(p["MetricName"], p["Statistic"]) for p in alarms.values()} == {
        ("Errors", "Sum"), ("Throttles", "Sum"), ("Duration", "Average")}
    (latency,) = [p for p in alarms.values() if p["MetricName"] == "Duration"]
    assert latency["Threshold"] <= 5000 and latency["Period"] * latency["EvaluationPeriods"] <= 3600
    assert latency["DatapointsToAlarm"] == latency["EvaluationPeriods"]  # sustained, not one cold start


# ------------------------------------------------------------------ least privilege, after the SAM transform


@pytest.fixture(scope="module")
def console_statements() -> list[dict[str, Any]]:
    role = transformed_template()["Resources"]["ConsoleFunctionRole"]["Properties"]
    assert set(role["ManagedPolicyArns"]) <= {"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                                              "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"}
    return [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _text(resource: Any) -> str:
    if isinstance(resource, str):
        return resource
    if "Fn::GetAtt" in resource:
        return f"<{resource['Fn::GetAtt'][0]}>"
    body = resource["Fn::Sub"] if isinstance(resource["Fn::Sub"], str) else resource["Fn::Sub"][0]
    body = body.replace("arn:${AWS::Partition}:s3:::${NamePrefix}-${Stage}-raw-${AWS::AccountId}-${AWS::Region}", "<raw>")
    return re.sub(r"\$\{(\w+)\.Arn\}", r"<\1>", body)


def _granted(statements: list[dict[str, Any]]) -> dict[str, set[str]]:
    """action -> the resources (as text) it is allowed on."""
    granted: dict[str, set[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in _list(statement["Action"]):
            granted.setdefault(action, set()).update(_text(r) for r in _list(statement["Resource"]))
    return granted


def test_the_console_role_holds_exactly_what_its_pages_call(console_statements):
    granted = _granted(console_statements)
    assert not [a for a in granted if a == "*" or a.endswith(":*")]
    assert {a for a, resources in granted.items() if "*" in resources} == {
        "states:SendTaskSuccess", "states:SendTaskFailure", "cloudwatch:GetMetricData"}
    # its own access log; a footprint's Athena results, in the workgroup's location
    assert granted["s3:PutObject"] == {"<raw>/access-logs/accesswatch/*", "<CuratedBucket>/athena-results/*"}
    assert granted["s3:GetObjectVersion"] == {"<raw>/reference/clients.*"}  # a case's client's details
    assert granted["s3:GetObject"] == {f"<CuratedBucket>/{p}/*" for p in ("reference", "events", "digests", "reports",
                                                                           "athena-results")
                                       } | {"<raw>/reference/clients.*"}
    # footprints: queries in the stack's own workgroup over its own Glue table only
    assert granted["athena:StartQueryExecution"] == {
        "arn:${AWS::Partition}:athena:${AWS::Region}:${AWS::AccountId}:workgroup/${ReportsWorkGroup}"}
    assert all("${EventsDatabase}" in r or r.endswith(":catalog") for r in granted["glue:GetTable"])
    assert granted["s3:ListBucket"] == {"<CuratedBucket>"}
    assert granted["dynamodb:PutItem"] == {"<CasesTable>", "<CasesTable>/index/*", "<AuditTable>"}
    for write in ("dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"):
        assert granted[write] == {"<CasesTable>", "<CasesTable>/index/*"}, write
    for read in ("dynamodb:GetItem", "dynamodb:Query"):
        assert granted[read] >= {"<FindingsTable>", "<LedgerTable>"}, read
    assert "<AuditTable>" not in granted["dynamodb:GetItem"] | granted["dynamodb:Query"]  # audit records: write only
    for never in ("dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "s3:DeleteObject", "states:StartExecution",
                  "lambda:InvokeFunction", "lambda:UpdateFunctionConfiguration", "cloudwatch:SetAlarmState"):
        assert not any(fnmatch.fnmatch(never, a) for a in granted), never
    assert granted["states:DescribeExecution"] == {
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${NamePrefix}-${Stage}-case:*"}
    assert granted["lambda:GetFunctionConfiguration"] == {"<DetectFunction>"}
    assert granted["cloudwatch:DescribeAlarms"] == {
        "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${NamePrefix}-${Stage}-*"}
    assert {a for a in granted if a.startswith("kms:")} == {"kms:Decrypt", "kms:GenerateDataKey"}


def test_docs_console_names_every_page_every_group_and_the_template_pieces():
    doc = (PROJECT_ROOT / "docs" / "console.md").read_text(encoding="utf-8")
    pages = re.sub(r"<[^>]+>", "<>", doc.split("## Pages", 1)[1].split("\n## ", 1)[0])
    from accesswatch.console.pages import ROUTERS

    for router in ROUTERS:
        for route in router._routes:
            path = re.sub(r"<[^>]+>", "<>", route[0])
            if not path.startswith(("/auth/", "/static/")):
                assert f"`{path}" in pages or f"{route[1][0]} {path}`" in pages, path
    for role in Role:
        assert f"| `{role.value}` |" in doc, role
    for name in ("ConsoleApi", "ConsoleAuthorizer", "ConsoleUserPool", "ConsoleUserPoolClient", "ConsoleUrl",
                 "ConsoleFunctionErrorsAlarm", "ConsoleLatencyAlarm", "Not tried against a real Cognito"):
        assert name in doc, name
