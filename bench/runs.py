"""Benchmark: the platform's overhead on a no-op Terraform plan, and 8 concurrent runs on one worker host.

Not a test: it prints figures. A throw-away test database (PostgreSQL when DATABASE_URL is set), moto
in server mode for the role re-validation, and the real Terraform (TERRAFORM_BIN, default
/usr/local/bin/terraform). Measured in one run so the ratio compares like with like:

* direct: `terraform init` + `terraform plan` run by hand in a directory holding the same code;
* platform: one plan run end to end (gate with role re-validation, overlapped with `init` when the
  project has no state backend; credentials, clean environment, `plan -json` whose `change_summary`
  gives the summary, streamed and masked log, audit, cleanup).

Target: platform / direct <= 1.5. Then 8 plan runs of 8 projects at once (threads, as 8 worker processes
would) against one run alone.

    python bench/runs.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("AXES_ENABLED", "false")

import django

django.setup()

import boto3  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from accounts.models import Environment, Membership, Organization, User  # noqa: E402
from bench.common import load_note, readme_row, spread, verdict  # noqa: E402
from connections import services as connection_services  # noqa: E402
from connections.role_validation import do_add_role  # noqa: E402
from projects import execution, services  # noqa: E402
from projects.models import TerraformRun  # noqa: E402

NOOP_TF = 'output "hello" {\n  value = "world"\n}\n'
ACCOUNT = "123456789012"


def archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("main.tf")
        info.size = len(NOOP_TF)
        tar.addfile(info, io.BytesIO(NOOP_TF.encode()))
    return buffer.getvalue()


def direct(binary: str, env: dict[str, str]) -> float:
    workdir = tempfile.mkdtemp(prefix="bench-direct-")
    try:
        Path(workdir, "main.tf").write_text(NOOP_TF)
        started = time.perf_counter()
        for args in (["init", "-input=false", "-no-color"], ["plan", "-input=false", "-no-color"]):
            subprocess.run([binary, *args], cwd=workdir, env=env, check=True, capture_output=True)
        return time.perf_counter() - started
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def platform_run(project, user) -> float:
    started = time.perf_counter()
    run = TerraformRun.objects.create(org=project.org, project=project, kind="plan", environment="production",
                                      created_by=user, created_by_label=user.email)  # fmt: skip
    result = execution.execute_run(run.pk)
    assert result is not None and result.status == "succeeded", (result.status, result.reason)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    options = parser.parse_args()
    binary = os.environ.get("TERRAFORM_BIN", "/usr/local/bin/terraform")
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})  # fmt: skip
    settings.TERRAFORM_BIN = binary
    settings.TERRAFORM_EXTRA_ENV = {"AWS_ENDPOINT_URL": endpoint}
    settings.PLATFORM_AWS_ACCOUNT_ID = ACCOUNT
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        org = Organization.objects.create(slug="bench", name="Bench", plan="enterprise")
        Environment.objects.create(org=org, slug="production", name="Production")
        user = User.objects.create_user(email="admin@bench.test", password="x-bench-password-1")
        Membership.objects.create(user=user, org=org, role="admin")
        conn = connection_services.do_create_connection(
            org, actor=user, name="aws-bench", provider="aws", auth_method="access_key",
            config={"account_id": ACCOUNT, "region": "us-east-1", "access_key_id": "AKIAIOSFODNN7EXAMPLE"},
            secrets={"secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}, environments=["production"],
        )  # fmt: skip
        iam = boto3.client("iam", region_name="us-east-1")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                 "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                 "Condition": {"StringEquals": {"sts:ExternalId": conn.external_id}}}]}  # fmt: skip
        arn = iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        role = do_add_role(conn, actor=user, role_arn=arn)
        projects = [
            services.do_create_project(
                org,
                actor=user,
                name=f"noop-{i}",
                environment="production",
                connection="aws-bench",
                role=role.pk,
                archive=archive(),
            )
            for i in range(8)
        ]
        env = {"PATH": settings.TERRAFORM_PATH, "HOME": tempfile.mkdtemp(), "TF_IN_AUTOMATION": "1"}
        direct(binary, env)  # warm-up (plugin caches, page cache)
        platform_run(projects[0], user)
        if os.environ.get("BENCH_QUERIES"):
            from django.test.utils import CaptureQueriesContext  # late import: optional query listing

            with CaptureQueriesContext(connection) as ctx:
                platform_run(projects[0], user)
            for q in ctx.captured_queries:
                print(f"  {q['time']} {q['sql'][:160]}")
            print(f"  {len(ctx.captured_queries)} queries in one run")
        if os.environ.get("BENCH_PROFILE"):
            import cProfile  # late import: optional profiling of one platform run
            import pstats  # late import: same

            original = execution.run_step

            def timed(ctx, step, args, **kwargs):
                started = time.perf_counter()
                try:
                    return original(ctx, step, args, **kwargs)
                finally:
                    print(f"  terraform {step}: {time.perf_counter() - started:.2f}s")

            execution.run_step = timed
            platform_run(projects[0], user)
            execution.run_step = original
            profiler = cProfile.Profile()
            profiler.runcall(platform_run, projects[0], user)
            only = os.environ.get("BENCH_PROFILE_FILTER") or ""  # a regular expression on function names
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(only, 40)
        # Interleaved pairs (direct, then platform) so load on the shared machine hits both alike; the
        # ratio of each pair, then min / median / max over the repetitions.
        directs, platforms = [], []
        for _ in range(options.repeat):
            directs.append(direct(binary, env))
            platforms.append(platform_run(projects[0], user))
        ratios = sorted(p_ / d_ for p_, d_ in zip(platforms, directs, strict=True))
        p = statistics.median(platforms)

        print(f"no-op plan, {options.repeat} pairs (min / median / max): terraform directly "
              f"{spread(directs, unit='s')}, platform run {spread(platforms, unit='s')}, ratio {spread(ratios)} "
              f"({verdict(ratios, at_most=1.5)})")  # fmt: skip

        def one(project):
            try:
                return platform_run(project, user)
            finally:
                connections.close_all()

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            each = list(pool.map(one, projects))
        wall = time.perf_counter() - started
        succeeded = TerraformRun.objects.filter(status="succeeded").count()
        total = TerraformRun.objects.count()
        print(f"8 concurrent plan runs: wall {wall:.2f}s (one alone {p:.2f}s), slowest {max(each):.2f}s, "
              f"{succeeded} of {total} runs succeeded")  # fmt: skip
        readme_row(
            "bench/runs.py",
            f"a no-op plan through the platform vs `terraform init` + `plan` run directly ({connection.vendor}, "
            f"moto; {options.repeat} interleaved pairs)",
            f"ratio {spread(ratios)} ({verdict(ratios, at_most=1.5)}); platform {spread(platforms, unit=' s')}, "
            f"direct {spread(directs, unit=' s')}; 8 concurrent runs: wall {wall:.2f} s, {succeeded} of {total} "
            f"succeeded; {load_note()}",
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        moto.stop()


if __name__ == "__main__":
    main()
