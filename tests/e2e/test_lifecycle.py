"""`make e2e` in CI: the whole life cycle against each environment of the session's cdk.out, as deployed
(each task's command, environment, secrets and role; the deploy-time setup step first): the operator's dev
environment and the self-hosted HIPAA example (TLS to the tasks, an imported KMS key, ALB sign-in for
support staff). Every step must pass, within the issue's 3 minutes."""

from __future__ import annotations

import time

from e2e import steps
from tests.e2e.conftest import Up

BUDGET_SECONDS = 180.0


def _run_all(up: Up) -> tuple[int, str]:
    failures = steps.run_steps(up.running, up.say)
    return failures, "\n".join(up.lines)


def test_lifecycle_dev_as_deployed_every_step_passes(dev_up: Up) -> None:
    failures, log = _run_all(dev_up)
    assert failures == 0, log
    assert time.monotonic() - dev_up.started < BUDGET_SECONDS, log
    assert "ok    declare a breach, notify through SES" in log
    # dev keeps the shared key (config keyring_mode): no organisation key is provisioned or destroyed.
    assert "ok    the schedule provisions the organisation's key" in log and "no organisation key" in log, log
    assert not [w for w in dev_up.running.warnings if "no setup step" in w], log


def test_lifecycle_selfhosted_hipaa_every_step_passes(acme_up: Up) -> None:
    failures, log = _run_all(acme_up)
    assert failures == 0, log
    assert time.monotonic() - acme_up.started < BUDGET_SECONDS, log
    running = acme_up.running
    # Per-organisation keys: the first registration answers the typed 503 and creates no key; the schedule in the
    # templates runs the job's `org provision-keys --pending`, then registration succeeds; erasure leaves the key
    # pending deletion in the KMS stand-in (crypto-shredding, P10).
    assert "ok    register: the organisation's key pending" in log and "registration pending" in log, log
    assert "ok    the schedule provisions the organisation's key (" in log and "rotation on; idempotent" in log, log
    assert "rate(5 minutes)" in log, log
    assert "is pending deletion until" in log, log
    assert all(service.url.startswith("https://") for service in running.services.values() if service.url), log
    assert "sequencer" in running.services and not running.services["sequencer"].url  # no HTTP, no load balancer
    assert "support" in running.load_balancers, "the support service signs staff in at the load balancer"
    imported = running.translations.of_kind("imported ARN")
    assert imported and all(entry.local in running.resolver.literals.values() for entry in imported), log
