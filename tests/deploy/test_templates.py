"""Deployment artefacts: the CloudFormation and SAM templates, the Dockerfile, the Lambda package.

What tools check: cfn-lint (every rule, informational ones included) on both templates and on
the SAM template as SAM expands it; ``sam validate`` (the SAM translator) and
``sam validate --lint`` from a pinned SAM CLI in its own virtualenv (created once, cached in
``.tools/sam-venv``); the CloudFront function run by Node against imgserver's own Accept parser;
the Dockerfile's HEALTHCHECK command against a server configured only by the Dockerfile's ENV;
the Lambda package built by ``make lambda-package`` imported by a CPython 3.12.

What these tests assert on top: the security properties the issue asks for (private, encrypted,
TLS-only buckets; results expire; no wildcard grants; the instances cannot write originals; the
signing key comes from SSM at boot; the cache key is path + normalised Accept, compression off).
None of this deploys anything: what only AWS can tell (the stack creates, instances boot) is
listed in docs/deploy.md as checked on paper.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from imgserver.plan.negotiate import parse_accept

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
CFN = ROOT / "deploy" / "cloudformation" / "imgserver.yaml"
SAM = ROOT / "deploy" / "sam" / "template.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
MAKEFILE = ROOT / "Makefile"
TEMPLATES = {"cloudformation": CFN, "sam": SAM}

#: The SAM CLI is pinned so a new release cannot change the verdict under us.
SAM_CLI_REQUIREMENT = "aws-sam-cli==1.170.0"
SAM_VENV = ROOT / ".tools" / "sam-venv"

#: CloudFront's managed origin-request policies (IDs from the CloudFront developer guide).
MANAGED_ORIGIN_REQUEST_POLICIES = {
    "216adef6-5c7f-47e4-b989-5492eafa07d3": "AllViewer",
    "33f36d7e-f396-46d9-90e0-52428a34d9dc": "AllViewerAndCloudFrontHeaders-2022-06",
    "b689b0a8-53d0-40ab-baf2-68738e2966ac": "AllViewerExceptHostHeader",
    "59781a5b-3903-41f3-afcb-af62929ccde1": "CORS-CustomOrigin",
    "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf": "CORS-S3Origin",
    "acba4595-bd28-49b8-b9fe-13317c0390fa": "UserAgentRefererHeaders",
}

#: Resources holding one PolicyDocument.
POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy")

#: S3 actions that read; anything else on the originals bucket would be a write.
S3_READ_ACTIONS = {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:GetBucketLocation"}


# ------------------------------------------------------------------------------------ helpers


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags, turned into their long JSON forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
    assert isinstance(data, dict)
    return data


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(resource name, statement) for every policy document in the template: IAM roles and
    policies, SAM function policies, bucket and queue policies."""
    for name, res in template["Resources"].items():
        props = res.get("Properties", {})
        documents: list[Any] = []
        if res["Type"] == "AWS::IAM::Role":
            documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
            documents.append(props["AssumeRolePolicyDocument"])
        elif res["Type"] in POLICY_TYPES:
            documents.append(props["PolicyDocument"])
        elif res["Type"] == "AWS::Serverless::Function":
            for policy in as_list(props.get("Policies", [])):
                assert isinstance(policy, dict) and "Statement" in policy, (
                    f"{name}: write SAM function policies as statements (no policy templates or "
                    "managed policies, whose grants this test cannot see)"
                )
                documents.append(policy)
        for document in documents:
            for statement in as_list(document["Statement"]):
                yield name, statement


def boot_script(cfn: dict[str, Any]) -> str:
    """The launch template's user data, before CloudFormation's substitution."""
    script = cfn["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]["Fn::Sub"]
    assert isinstance(script, str)
    return script


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(cmd: list[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)


def cfn_lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    """cfn-lint from this virtualenv, every rule including the informational ones."""
    exe = Path(sys.executable).with_name("cfn-lint")
    return run([str(exe), "--include-checks", "I", "--", *map(str, paths)], timeout=120)


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return load_template(CFN)


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return load_template(SAM)


# ------------------------------------------------------------------------------------ cfn-lint


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_cfn_lint_passes(name: str) -> None:
    result = cfn_lint(TEMPLATES[name])
    assert result.returncode == 0, f"cfn-lint on {TEMPLATES[name].name}:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_no_lint_rule_is_ignored(name: str) -> None:
    """The templates pass every rule; an ignore list would need an inline justification, and
    there is none to justify."""
    template = load_template(TEMPLATES[name])
    assert "cfn-lint" not in template.get("Metadata", {})
    for res_name, res in template["Resources"].items():
        assert "cfn-lint" not in res.get("Metadata", {}), res_name


# ------------------------------------------------------------------------------------ buckets


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_buckets_are_private_encrypted_and_tls_only(name: str) -> None:
    template = load_template(TEMPLATES[name])
    buckets = resources(template, "AWS::S3::Bucket")
    assert buckets
    tls_only = set()
    for policy in resources(template, "AWS::S3::BucketPolicy").values():
        for statement in as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
            if statement["Effect"] == "Deny" and text(statement.get("Condition")) == text(
                {"Bool": {"aws:SecureTransport": "false"}}
            ):
                tls_only.add(text(policy["Properties"]["Bucket"]))
    for bucket_name, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, bucket_name
        rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules and all(
            r["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms", "aws:kms:dsse") for r in rules
        ), bucket_name
        assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}], bucket_name
        assert "AccessControl" not in props, bucket_name
        assert text({"Ref": bucket_name}) in tls_only, f"{bucket_name} has no TLS-only bucket policy"
        assert bucket.get("DeletionPolicy") == "Retain", f"{bucket_name}: deleting the stack must keep the data"


def test_results_bucket_expires(cfn: dict[str, Any]) -> None:
    rules = cfn["Resources"]["ResultsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = [r for r in rules if r["Status"] == "Enabled" and "ExpirationInDays" in r and "Prefix" not in r]
    assert expiring, "results must expire (they are re-rendered on demand)"
    assert expiring[0]["ExpirationInDays"] == {"Ref": "ResultsExpirationDays"}
    # and nothing else expires: originals and metadata are the data
    for name in ("OriginalsBucket", "MetadataBucket"):
        for rule in cfn["Resources"][name]["Properties"].get("LifecycleConfiguration", {}).get("Rules", []):
            assert "ExpirationInDays" not in rule and "ExpirationDate" not in rule, name


def test_originals_events_reach_the_queue(cfn: dict[str, Any]) -> None:
    queues = cfn["Resources"]["OriginalsBucket"]["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert {q["Event"] for q in queues} == {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}
    assert all(q["Queue"] == {"Fn::GetAtt": ["EventQueue", "Arn"]} for q in queues)
    queue = cfn["Resources"]["EventQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["EventDeadLetterQueue", "Arn"]}
    assert queue["SqsManagedSseEnabled"] is True
    assert cfn["Resources"]["EventDeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"] is True
    # S3 may send only from this account's originals bucket, which must exist after the policy.
    (statement,) = cfn["Resources"]["EventQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert "-originals" in text(statement["Condition"]["ArnEquals"]["aws:SourceArn"])
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert cfn["Resources"]["OriginalsBucket"]["DependsOn"] == "EventQueuePolicy"


def test_sam_function_is_triggered_by_the_originals_bucket(sam: dict[str, Any]) -> None:
    (function,) = resources(sam, "AWS::Serverless::Function").values()
    props = function["Properties"]
    assert props["Handler"] == "imgserver.lambda_handler.handler"
    # python3.11 runs on Amazon Linux 2 (glibc 2.26); pyvips-binary needs manylinux_2_28.
    assert props["Runtime"] in ("python3.12", "python3.13")
    events = props["Events"].values()
    assert {e["Properties"]["Events"] for e in events} == {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}
    assert all(e["Type"] == "S3" and e["Properties"]["Bucket"] == {"Ref": "OriginalsBucket"} for e in events)
    assert props["DeadLetterQueue"]["Type"] == "SQS"


# ------------------------------------------------------------------------------------ IAM


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_no_wildcard_grants(name: str) -> None:
    statements = list(policy_statements(load_template(TEMPLATES[name])))
    assert statements
    for owner, statement in statements:
        if statement["Effect"] != "Allow":
            continue  # a Deny (TLS-only bucket policies) grants nothing
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{owner}: {action} is a wildcard grant"
        if "Resource" in statement:  # trust policies have none
            for resource in as_list(statement["Resource"]):
                assert resource != "*", f"{owner}: Resource '*' in {statement.get('Sid')}"
        assert "NotAction" not in statement and "NotResource" not in statement, owner


def _grants(statements: list[dict[str, Any]], marker: str) -> set[str]:
    """Actions allowed on resources whose text mentions ``marker``."""
    found: set[str] = set()
    for statement in statements:
        if statement["Effect"] == "Allow" and marker in text(statement.get("Resource")):
            found.update(as_list(statement["Action"]))
    return found


def test_instance_role_is_least_privilege(cfn: dict[str, Any]) -> None:
    role = cfn["Resources"]["InstanceRole"]["Properties"]
    assert "ManagedPolicyArns" not in role, "managed policies would grant more than this test can see"
    statements = [s for p in role["Policies"] for s in as_list(p["PolicyDocument"]["Statement"])]
    originals = _grants(statements, "OriginalsBucket")
    assert originals <= S3_READ_ACTIONS, f"the instances may write originals: {originals - S3_READ_ACTIONS}"
    assert "s3:GetObject" in originals
    assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"} <= _grants(statements, "ResultsBucket")
    assert {"s3:GetObject", "s3:PutObject"} <= _grants(statements, "MetadataBucket")
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= _grants(statements, "EventQueue")
    assert _grants(statements, "SigningKeyParameterName") == {"ssm:GetParameter"}
    every = {a for s in statements for a in as_list(s["Action"])}
    assert every <= S3_READ_ACTIONS | {
        "s3:PutObject",
        "s3:DeleteObject",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "ssm:GetParameter",
    }, every


def test_lambda_role_is_least_privilege(sam: dict[str, Any]) -> None:
    (function,) = resources(sam, "AWS::Serverless::Function").values()
    statements = [s for p in function["Properties"]["Policies"] for s in as_list(p["Statement"])]
    originals = _grants(statements, "-originals")
    assert originals and originals <= S3_READ_ACTIONS, originals
    assert _grants(statements, "MetadataBucket") <= {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"}
    assert {"s3:PutObject", "s3:DeleteObject"} <= _grants(statements, "MetadataBucket")


# ------------------------------------------------------------------------------------ signing key


def test_signing_key_comes_from_ssm_at_boot(cfn: dict[str, Any]) -> None:
    params = cfn["Parameters"]
    for name, param in params.items():
        assert not param.get("NoEcho"), f"{name}: a NoEcho parameter means a secret passes through the stack"
    key_param = params["SigningKeyParameterName"]
    assert key_param["Type"] == "String"
    assert re.fullmatch(key_param["AllowedPattern"], key_param["Default"])
    assert key_param["Default"].startswith("/"), "the default is an SSM parameter name, not a key"
    assert not re.fullmatch(key_param["AllowedPattern"], "plain-literal-key"), "a bare key must be refused"
    for name in params:
        if re.search(r"key|secret", name, re.IGNORECASE):
            assert name == "SigningKeyParameterName", f"{name}: keys and secrets come from SSM or Secrets Manager"

    user_data = boot_script(cfn)
    fetch = re.search(r"^KEYS=\$\(aws ssm get-parameter (.*?)\)$", user_data, re.MULTILINE | re.DOTALL)
    assert fetch, "the boot script must read the keys from SSM"
    assert "--with-decryption" in fetch.group(1) and "${SigningKeyParameterName}" in fetch.group(1)
    assignments = re.findall(r"^IMGSERVER_SECURITY_KEYS=(.*)$", user_data, re.MULTILINE)
    assert assignments == ["$KEYS"]
    # the key never appears anywhere else in either template
    for path in TEMPLATES.values():
        body = path.read_text(encoding="utf-8")
        assert body.count("IMGSERVER_SECURITY_KEYS") == (1 if path == CFN else 0), path.name
        assert "ssm-secure" not in body, "a resolved SecureString would be visible in the launch template"


def test_instances_run_server_and_worker(cfn: dict[str, Any]) -> None:
    data = cfn["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    user_data = boot_script(cfn)
    assert "ExecStart=/opt/imgserver/bin/imgserver $unit" in user_data
    assert "for unit in serve worker; do" in user_data
    for setting in (
        "IMGSERVER_LOADER_KIND=s3",
        "IMGSERVER_RESULT_CACHE_KIND=s3",
        "IMGSERVER_S3_ORIGINALS_BUCKET=${OriginalsBucket}",
        "IMGSERVER_S3_RESULTS_BUCKET=${ResultsBucket}",
        "IMGSERVER_S3_METADATA_BUCKET=${MetadataBucket}",
        "IMGSERVER_WORKER_QUEUE_URL=${EventQueue}",
        "IMGSERVER_SERVER_XHEADERS=true",
        "IMGSERVER_SECURITY_ALLOW_UNSAFE=false",
        "MALLOC_ARENA_MAX=2",
        "VIPS_BLOCK_UNTRUSTED=1",
    ):
        assert f"\n{setting}\n" in user_data, setting
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert all(m["Ebs"]["Encrypted"] is True for m in data["BlockDeviceMappings"])
    group = cfn["Resources"]["ServerGroup"]
    assert group["Properties"]["HealthCheckType"] == "ELB"
    assert cfn["Resources"]["TargetGroup"]["Properties"]["HealthCheckPath"] == "/healthcheck"
    # only the load balancer reaches the instances
    assert "SecurityGroupIngress" not in cfn["Resources"]["InstanceSecurityGroup"]["Properties"]
    (ingress,) = resources(cfn, "AWS::EC2::SecurityGroupIngress").values()
    assert ingress["Properties"]["SourceSecurityGroupId"] == {"Ref": "LoadBalancerSecurityGroup"}


# ------------------------------------------------------------------------------------ CloudFront


def test_cache_key_is_path_and_normalised_accept(cfn: dict[str, Any]) -> None:
    (policy,) = resources(cfn, "AWS::CloudFront::CachePolicy").values()
    key = policy["Properties"]["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["HeadersConfig"] == {"HeaderBehavior": "whitelist", "Headers": ["Accept"]}
    assert key["CookiesConfig"] == {"CookieBehavior": "none"}
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "none"}
    assert key["EnableAcceptEncodingGzip"] is False and key["EnableAcceptEncodingBrotli"] is False

    config = cfn["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    assert "CacheBehaviors" not in config, "one behaviour: every path is keyed the same way"
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["CachePolicyId"] == {"Ref": "CachePolicy"}
    assert behaviour["Compress"] is False
    assert behaviour["OriginRequestPolicyId"] in MANAGED_ORIGIN_REQUEST_POLICIES
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    assert behaviour["ViewerProtocolPolicy"] in ("redirect-to-https", "https-only")
    (association,) = behaviour["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    assert association["FunctionARN"] == {"Fn::GetAtt": ["AcceptFunction", "FunctionARN"]}
    # the origin only answers CloudFront: a secret header, from Secrets Manager, never a literal
    (origin,) = config["Origins"]
    (header,) = origin["OriginCustomHeaders"]
    assert header["HeaderValue"] == {"Fn::Sub": "{{resolve:secretsmanager:${OriginVerifySecret}:SecretString}}"}
    rule = cfn["Resources"]["ForwardFromCloudFront"]["Properties"]["Conditions"][0]["HttpHeaderConfig"]
    assert rule["HttpHeaderName"] == header["HeaderName"] and rule["Values"] == [header["HeaderValue"]]
    listener = cfn["Resources"]["Listener"]["Properties"]
    assert listener["DefaultActions"][0]["FixedResponseConfig"]["StatusCode"] == "403"


ACCEPT_CASES = [
    None,
    "",
    "*/*",
    "image/*",
    # Chrome, Firefox, Safari 17, Edge, curl, an old IE
    "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
    "image/avif,image/webp,*/*",
    "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5",
    "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5",
    "image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5",
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8",
    # q-values: refusals, odd spacing and case, malformed q, duplicates
    "image/webp;q=0",
    "image/webp;q=0.0, image/avif;q=0.001",
    "IMAGE/WEBP ; Q=0.5",
    "image/webp;q=abc,image/avif;q=",
    "image/avif;q",
    "image/webp;q=0,image/webp;q=0.4",
    "image/webp;level=1;q=0.2",
    "image/webpx,image/avifx,webp,avif",
    " image/avif , image/webp ",
    "image/avif;q=1.5,image/webp;q=-1",
    "x" * 2100 + ",image/webp",
]


def _expected_accept(header: str | None) -> str:
    """What the function must forward: the formats imgserver's negotiation would see."""
    ranges = parse_accept(header)
    formats = [m for m in ("image/avif", "image/webp") if ranges.get(m, 0.0) > 0.0]
    return ",".join(formats) or "*/*"


_NODE_HARNESS = """
let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const { code, cases } = JSON.parse(input);
  const handler = new Function(code + '\\nreturn handler;')();
  const out = cases.map((headers) => {
    const request = handler({ request: { method: 'GET', uri: '/x.jpg', headers: headers } });
    return request.headers.accept.value;
  });
  process.stdout.write(JSON.stringify(out));
});
"""


def test_accept_function_agrees_with_imgserver_negotiation(cfn: dict[str, Any]) -> None:
    """The CloudFront function, run by Node, forwards exactly the formats imgserver would
    negotiate from the original header, so the cache key loses nothing the origin uses."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the CloudFront function is checked by eye only")
    function = cfn["Resources"]["AcceptFunction"]["Properties"]
    code = function["FunctionCode"]
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert len(code.encode()) < 10 * 1024, "CloudFront Functions are limited to 10 KB"
    cases: list[dict[str, Any]] = [{} if h is None else {"accept": {"value": h}} for h in ACCEPT_CASES]
    expected = [_expected_accept(h) for h in ACCEPT_CASES]
    # several Accept headers arrive as multiValue; imgserver sees them joined with commas
    cases.append({"accept": {"value": "text/html", "multiValue": [{"value": "text/html"}, {"value": "image/webp"}]}})
    expected.append(_expected_accept("text/html,image/webp"))
    result = run([node, "-e", _NODE_HARNESS], timeout=30, input=json.dumps({"code": code, "cases": cases}))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected
    assert len(set(expected)) == 4  # the whole cache-key space: avif+webp, avif, webp, neither


# ------------------------------------------------------------------------------------ Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#") or (not line.strip() and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            word, _, rest = full.partition(" ")
            out.append((word.upper(), rest.strip()))
    assert not pending, "dangling line continuation"
    return out


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in final_stage():
        if word == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def test_dockerfile_runs_as_non_root_with_healthcheck_and_malloc_setting() -> None:
    stage = final_stage()
    users = [rest for word, rest in stage if word == "USER"]
    assert users, "the runtime stage must switch to a non-root USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    words = [word for word, _ in stage]
    assert words.index("USER") < words.index("ENTRYPOINT")
    (healthcheck,) = [rest for word, rest in stage if word == "HEALTHCHECK"]
    assert "/healthcheck" in healthcheck and "WORKING" in healthcheck
    env = dockerfile_env()
    assert env["MALLOC_ARENA_MAX"] == "2"
    assert env["VIPS_BLOCK_UNTRUSTED"] == "1"
    assert env["IMGSERVER_SERVER_HOST"] == "0.0.0.0"
    assert not any("SECURITY_KEYS" in name for name in env), "keys are passed at run time, never baked in"
    assert dict(stage)["EXPOSE"] == env["IMGSERVER_SERVER_PORT"]
    assert json.loads(dict(stage)["ENTRYPOINT"]) == ["imgserver"]
    assert json.loads(dict(stage)["CMD"]) == ["serve"]


def _pip_installs(lines: list[str]) -> list[list[str]]:
    """The arguments of each ``pip install`` in shell lines, without --quiet and friends."""
    installs: list[list[str]] = []
    for line in lines:
        for command in re.split(r"&&|;", line):
            words = shlex.split(command)
            if "pip" in words and "install" in words and words.index("install") == words.index("pip") + 1:
                args = words[words.index("install") + 1 :]
                installs.append([a for a in args if a not in ("--quiet", "-q", "--no-cache-dir")])
    return installs


def _makefile_setup_recipe() -> tuple[list[str], list[str]]:
    """(prerequisites, recipe lines) of the rule that `make setup` runs."""
    lines = MAKEFILE.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("$(STAMP):"))
    prerequisites = lines[start].split(":", 1)[1].split()
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return prerequisites, recipe


def test_dockerfile_installs_like_make_setup() -> None:
    """Same steps as the Makefile: a venv, pip upgraded, then the project directory with
    setup.cfg's requirements. The image drops only what is for development: the editable
    flag and the [test] extras."""
    prerequisites, recipe = _makefile_setup_recipe()
    make_installs = _pip_installs(recipe)
    runs = [rest for word, rest in dockerfile_instructions() if word == "RUN"]
    docker_installs = _pip_installs(runs)
    assert make_installs == [["--upgrade", "pip"], ["-e", ".[test]"]], "the Makefile changed: update the Dockerfile"
    assert docker_installs == [["--upgrade", "pip"], ["."]]
    assert any("-m venv" in line for line in recipe) and any("-m venv" in line for line in runs)
    copied = " ".join(rest for word, rest in dockerfile_instructions() if word == "COPY")
    for name in [*prerequisites, "README.md", "imgserver"]:  # README.md: setup.cfg's long_description
        assert re.search(rf"(^|\s){re.escape(name)}(\s|$)", copied), f"the image build needs {name}"
    ignored = {line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()}
    assert {".git", ".venv", ".tools", "tests"} <= ignored
    assert not ignored & {*prerequisites, "README.md", "imgserver"}


def test_dockerfile_healthcheck_command_works_against_env_configured_server(tmp_path: Path) -> None:
    """The HEALTHCHECK command, run as written, against `imgserver serve` configured only by
    the Dockerfile's ENV (host and port moved to a free loopback port, a signing key added as
    `docker run -e` would)."""
    (healthcheck,) = [rest for word, rest in final_stage() if word == "HEALTHCHECK"]
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert command[0] == "python"
    command[0] = sys.executable
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGSERVER_")}
    env.update({k: v for k, v in dockerfile_env().items() if k != "PATH"})
    env.update(
        IMGSERVER_SERVER_HOST="127.0.0.1",
        IMGSERVER_SERVER_PORT=str(port),
        IMGSERVER_FILE_ROOT=str(tmp_path),
        IMGSERVER_SECURITY_KEYS="docker-test-key",
    )
    # nothing listening yet: the check must fail
    assert run(command, timeout=30, env=env).returncode != 0
    log = tmp_path / "server.log"
    with (
        log.open("w") as log_file,
        subprocess.Popen(
            [str(Path(sys.executable).with_name("imgserver")), "serve"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        ) as server,
    ):
        try:
            deadline = time.monotonic() + 30
            while True:
                result = run(command, timeout=30, env=env)
                if result.returncode == 0 or server.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert server.poll() is None, f"server exited:\n{log.read_text()}"
            assert result.returncode == 0, result.stderr
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


# ------------------------------------------------------------------------------------ SAM CLI


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def sam_venv() -> Path:
    """The SAM CLI in a virtualenv of its own (its pins clash with ours), created once and
    reused while SAM_CLI_REQUIREMENT is unchanged. PyPI is the only network it needs."""
    stamp = SAM_VENV / ".installed"
    with _lock(SAM_VENV.with_suffix(".lock")):
        if not stamp.is_file() or stamp.read_text(encoding="utf-8") != SAM_CLI_REQUIREMENT:
            shutil.rmtree(SAM_VENV, ignore_errors=True)
            steps = [
                [sys.executable, "-m", "venv", str(SAM_VENV)],
                [str(SAM_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
                [str(SAM_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", SAM_CLI_REQUIREMENT],
            ]
            for step in steps:
                result = run(step, timeout=900)
                assert result.returncode == 0, f"{' '.join(step)}:\n{result.stdout}{result.stderr}"
            stamp.write_text(SAM_CLI_REQUIREMENT, encoding="utf-8")
    return SAM_VENV


def _sam_env() -> dict[str, str]:
    """Offline and anonymous: a region (the CLI insists), dummy credentials so no real
    profile is ever read, no telemetry, and the CLI's state kept under .tools/."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    home = ROOT / ".tools" / "sam-home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        SAM_CLI_TELEMETRY="0",
        HOME=str(home),
    )
    return env


@pytest.mark.timeout(900)
@pytest.mark.parametrize("lint", [True, False], ids=["lint", "translate"])
def test_sam_validate(sam_venv: Path, lint: bool) -> None:
    """`sam validate --lint` (the SAM CLI's bundled cfn-lint) and plain `sam validate` (the SAM
    translator, which needs no AWS call for this template). Both run offline."""
    cmd = [str(sam_venv / "bin" / "sam"), "validate", "-t", str(SAM), *(["--lint"] if lint else [])]
    result = run(cmd, timeout=300, env=_sam_env(), cwd=ROOT)
    assert result.returncode == 0, f"{' '.join(cmd)}:\n{result.stdout}{result.stderr}"
    assert "is a valid SAM Template" in result.stdout


@pytest.mark.timeout(900)
def test_sam_template_as_expanded_by_sam(sam_venv: Path, tmp_path: Path) -> None:
    """cfn-lint cannot see the resources SAM generates (the role, the permissions, the
    bucket's notification): lint the translated template too (this is what catches a
    bucket -> permission -> function -> bucket dependency cycle), and check the role SAM wrote."""
    translated = tmp_path / "sam-translated.yaml"
    cmd = [str(sam_venv / "bin" / "python"), str(Path(__file__).with_name("sam_translate.py")), str(SAM)]
    result = run(cmd, timeout=300, env=_sam_env(), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    translated.write_text(result.stdout, encoding="utf-8")
    lint = cfn_lint(translated)
    assert lint.returncode == 0, f"cfn-lint on the translated SAM template:\n{lint.stdout}{lint.stderr}"

    template = load_template(translated)
    (role,) = resources(template, "AWS::IAM::Role").values()
    (managed,) = role["Properties"]["ManagedPolicyArns"]  # logging only
    assert text(managed).endswith(':policy/service-role/AWSLambdaBasicExecutionRole"'), managed
    statements = [s for _, s in policy_statements(template)]
    for statement in statements:
        if statement["Effect"] == "Allow":
            assert not any("*" in a for a in as_list(statement["Action"])), statement
    assert _grants(statements, "-originals") <= S3_READ_ACTIONS
    notification = resources(template, "AWS::S3::Bucket")["OriginalsBucket"]["Properties"]["NotificationConfiguration"]
    assert {c["Event"] for c in notification["LambdaConfigurations"]} == {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}


# ------------------------------------------------------------------------------------ Lambda package

#: The python3.12 Lambda runtime runs on Amazon Linux 2023; python3.11's is Amazon Linux 2 (2.26).
AMAZON_LINUX_2023_GLIBC = (2, 34)
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def _manylinux_glibc(platform: str) -> tuple[int, int]:
    """manylinux_2_28_x86_64 -> (2, 28); the legacy aliases by their glibc."""
    for alias, glibc in _LEGACY_MANYLINUX.items():
        if platform.startswith(alias + "_"):
            return glibc
    match = re.fullmatch(r"manylinux_(\d+)_(\d+)_\w+", platform)
    assert match, f"not a manylinux wheel: {platform}"
    return int(match.group(1)), int(match.group(2))


def _python312() -> str | None:
    """A CPython 3.12 that runs: on PATH, or a pyenv build that PATH's shim does not select."""
    pyenv = sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))
    candidates = [shutil.which("python3.12"), *map(str, pyenv)]
    for candidate in filter(None, candidates):
        if run([candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 12)"], timeout=30).returncode == 0:
            return candidate
    return None


@pytest.mark.timeout(600)
def test_lambda_package_imports_on_cpython_312(tmp_path: Path) -> None:
    """`make lambda-package` into a temporary folder, then a bare CPython 3.12 (the Lambda
    runtime's version) imports pyvips and imgserver from it alone and encodes an image. This
    machine's glibc is newer than Amazon Linux 2023's 2.34; the wheels' manylinux_2_28 tag is
    what promises the rest."""
    python312 = _python312()
    if python312 is None:
        pytest.skip("no CPython 3.12 on this machine: the Lambda package is checked by its wheel tags only")
    target = tmp_path / "lambda"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}  # not the outer make's
    cmd = ["make", "--no-print-directory", "lambda-package", f"LAMBDA_DIR={target}"]
    make = run(cmd, timeout=500, cwd=ROOT, env=env)
    assert make.returncode == 0, f"{make.stdout}{make.stderr}"
    native = {
        line.split(": ", 1)[1]
        for wheel in target.glob("*.dist-info/WHEEL")
        for line in wheel.read_text(encoding="utf-8").splitlines()
        if line.startswith("Tag: ") and not line.endswith("-none-any")
    }
    assert native
    versions = [p.name.removesuffix(".dist-info").rpartition("-")[2] for p in target.glob("*.dist-info")]
    assert not [v for v in versions if re.search(r"(a|b|rc|dev)\d", v)], f"a pre-release was picked: {versions}"
    for tag in native:
        interpreter, abi, platform = tag.split("-")
        assert abi == "abi3" or interpreter == "cp312", tag
        assert platform.endswith("_x86_64"), tag
        assert _manylinux_glibc(platform) <= AMAZON_LINUX_2023_GLIBC, f"{tag} needs a newer glibc than the runtime's"
    probe = (
        "import pyvips, imgserver\n"
        "from imgserver.imaging.setup import configure\n"
        "configure(1)\n"
        "image = pyvips.Image.black(8, 8)\n"
        "assert image.write_to_buffer('.jpg')[:2] == b'\\xff\\xd8'\n"
        "import importlib.util\n"
        "if importlib.util.find_spec('imgserver.lambda_handler'):\n"
        "    from imgserver.lambda_handler import handler\n"
        "    assert callable(handler)\n"
        "print(imgserver.__file__)\n"
    )
    # -I: no site-packages of ours, no PYTHONPATH, no user site; the package folder alone.
    code = f"import sys; sys.path.insert(0, {str(target)!r})\n{probe}"
    result = run([python312, "-I", "-c", code], timeout=60, env={"PATH": os.environ.get("PATH", "")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(target)), "imported imgserver from somewhere else"
