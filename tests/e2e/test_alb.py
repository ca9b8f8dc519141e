"""The load balancer stand-in's x-amzn-oidc-data: the runtime's own ALB authenticator accepts it for the
signer it was made for, with the staff rule of the support service, and refuses it for another signer."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.alb import LocalLoadBalancer, wrap_argv
from runtime.service.auth import AlbOidcAuthenticator, AuthenticationError
from runtime.service.identity import StaffResolver

SIGNER = "arn:aws:elasticloadbalancing:us-east-1:444444444444:loadbalancer/app/adp-acme-support/0123456789abcdef"


def _authenticator(balancer: LocalLoadBalancer, signer: str = SIGNER) -> AlbOidcAuthenticator:
    keys = {balancer.kid: balancer.public_pem().decode()}
    return AlbOidcAuthenticator(expected_signer_arn=signer, public_key=keys.__getitem__,
                                resolve=StaffResolver("groups", "adp-support"))


def test_alb_standin_header_staff_claims_authenticate_as_staff() -> None:
    balancer = LocalLoadBalancer(signer_arn=SIGNER, issuer="https://workforce.example", client_id="adp-support")
    header = balancer.data_header({"sub": "sam@example", "groups": ["adp-support"]})
    assert all(len(part) % 4 == 0 for part in header["x-amzn-oidc-data"].split("."))  # padded, as the ALB sends
    caller = _authenticator(balancer).authenticate(header)
    assert caller.user_id == "sam@example"
    assert (balancer.region, balancer.partition) == ("us-east-1", "aws")


def test_alb_standin_header_other_signer_is_refused() -> None:
    balancer = LocalLoadBalancer(signer_arn=SIGNER, issuer="https://workforce.example", client_id="adp-support")
    header = balancer.data_header({"sub": "sam@example", "groups": ["adp-support"]})
    with pytest.raises(AuthenticationError):
        _authenticator(balancer, SIGNER.replace("0123456789abcdef", "fedcba9876543210")).authenticate(header)


def test_alb_wrap_argv_runtime_command_runs_through_the_key_override() -> None:
    argv = wrap_argv(["/usr/bin/python3", "-m", "runtime", "serve"], Path("/keys"), "https://public-keys/")
    assert argv == ["/usr/bin/python3", "-m", "e2e.alb", "/keys", "https://public-keys/", "--", "serve"]
    with pytest.raises(ValueError, match="wraps"):
        wrap_argv(["/bin/sh", "-c", "serve"], Path("/keys"), "https://public-keys/")
