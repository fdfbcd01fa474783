"""`imgserver serve` with IMGSERVER_LOADER_KIND=s3 as a real process: the S3 client is
opened at start-up from the AWS credential chain and closed on SIGTERM."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests import images, s3server
from tests.integration.test_cli import REPO, _env, get, running
from tests.s3server import SeaweedServer

pytestmark = pytest.mark.integration


def s3_env(seaweed: SeaweedServer, credentials: tuple[str, str]) -> dict[str, str]:
    return _env(
        IMGSERVER_SECURITY_ALLOW_UNSAFE="true",
        IMGSERVER_LOADER_KIND="s3",
        IMGSERVER_S3_ENDPOINT_URL=seaweed.endpoint,
        IMGSERVER_S3_ORIGINALS_BUCKET=s3server.ORIGINALS,
        IMGSERVER_S3_RESULTS_BUCKET=s3server.RESULTS,
        IMGSERVER_S3_ADDRESSING_STYLE="path",
        IMGSERVER_RESULT_CACHE_KIND="s3",
        AWS_ACCESS_KEY_ID=credentials[0],
        AWS_SECRET_ACCESS_KEY=credentials[1],
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/nonexistent/aws-config",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials",
    )


def test_serve_from_s3_and_stop_cleanly(seaweed: SeaweedServer) -> None:
    with running(env=s3_env(seaweed, s3server.IMGSERVER)) as (proc, base):
        status, _, body = get(base + "/unsafe/fit-in/200x200/hd.jpg")
        assert status == 200
        assert images.size_of(body) == (200, 113)
        assert get(base + "/unsafe/fit-in/200x200/nope.jpg")[0] == 404
    assert proc.returncode == 0


def test_no_aws_credentials_is_a_clear_start_up_failure(seaweed: SeaweedServer) -> None:
    env = s3_env(seaweed, ("", ""))
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    done = subprocess.run(
        [sys.executable, "-m", "imgserver", "serve", "--port", "0"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert "no AWS credentials" in done.stderr
