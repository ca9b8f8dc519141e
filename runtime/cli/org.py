"""`python -m runtime org ...`: the control plane of per-organisation keys (P6, P10). Thin: parse, wire, report.

    org provision-keys ORG [ORG ...] | --pending [--actor ID]
        create each organisation's own key if it has none (idempotent): KMS key with tags (environment, app,
        organisation), rotation on, alias alias/<app>-<env>-org-<id>, and a key policy admitting only this
        environment's runtime roles with the organisation id in the encryption context; locally, a key file.
        Until it has run, the organisation's requests get 503 organisation-key-unavailable. --pending: every
        organisation whose registration (PUT /v1/organisation) is waiting for its key, each then recorded as
        active (audited); an organisation's own key its admin registered (PUT /v1/organisation/key, checked as
        the data service's role) is checked again as this role, then activated or reported rejected (one JSON
        line each). The scheduled control-plane task runs this, so registrations complete on their own.
    org register-key ORG --key-arn ARN [--actor ID]
        BYOK: wrap the organisation's data keys under its OWN KMS key (in its account) instead. Checked first:
        symmetric (SYMMETRIC_DEFAULT), ENCRYPT_DECRYPT, enabled, rotation on, and a live GenerateDataKey + Decrypt
        with the organisation's encryption context as this role (the key policy cannot be read across accounts).
        A refusal names every check that failed; a key-policy gap prints the statements to add (JSON, with this
        environment's role ARNs and the encryption-context condition) and exits 1. Registered: audited. Only
        before the organisation's first write.
    org key-state ORG
        the state of the organisation's key (enabled, disabled, pending-deletion, missing), as JSON.
    org cancel-key-deletion ORG --reason TEXT [--actor ID]
        cancel the deletion an erasure scheduled, within its pending window (KMS keys only), and re-enable the
        key; audited (an audit ledger event on the organisation, actor and request id; the reason is printed,
        never stored: it is free text).

    org migrate-keys ORG [ORG ...] | --all [--actor ID]
        re-wrap each organisation's existing data keys from the environment's old shared key (still set next to
        the per-organisation settings) under its own key (provisioned if missing): per organisation, committed as
        it goes (a re-run continues), idempotent, one audit ledger event per organisation
        (runtime/lifecycle/key_migration.py). Prints one JSON line per organisation. --all: every organisation
        on record with a platform key (runtime/db/organisation_keys.py: ids and states, no data read); a re-run
        continues where the last stopped.

Settings: runtime/wiring/keyring.py (PLATFORM_APP_NAME, or PLATFORM_LOCAL_ORGANISATION_KEYS_DIR in local runs),
and for provisioning PLATFORM_ORGANISATION_KEY_USER_ROLE_ARNS and PLATFORM_ORGANISATION_KEY_ADMIN_ROLE_ARN.
"""

import argparse
import json
import os
import sys
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from runtime import settings
from runtime.audit.events import Action
from runtime.cli.arguments import uuid_argument
from runtime.envelope import KmsOrganisationKeys, OrganisationKeyAdmin
from runtime.errors import ConfigurationError
from runtime.lifecycle.organisation_keys import public_status
from runtime.wiring.clients import ClientFactory, aws_client
from runtime.wiring.keyring import choose_keyring

if TYPE_CHECKING:
    from runtime.envelope.keyrings.customer import CustomerKeyChecker
    from runtime.lifecycle.wiring import LifecycleWiring

clients: ClientFactory = aws_client  # replaced in tests


def _customer_key(environ: Mapping[str, str], organisation: str) -> str | None:
    """The organisation's own key (BYOK) on record, read when a command needs it (one short connection)."""
    from runtime.db.organisation_keys import PostgresCustomerKeys

    wiring = make_wiring(environ)
    try:
        return PostgresCustomerKeys(wiring.key_pool)(organisation)
    finally:
        wiring.close()


def _admin(environ: Mapping[str, str]) -> OrganisationKeyAdmin:
    admin = choose_keyring(environ).organisation_keys(
        environ, clients, customer_keys=lambda organisation: _customer_key(environ, organisation))
    if admin is None:
        raise ConfigurationError("this environment uses a shared key (PLATFORM_KEYRING_MODE=shared): there are no "
                                 "organisation keys to administer")
    return admin


def _audit_cancel(environ: Mapping[str, str], owner: uuid.UUID, actor: uuid.UUID | None) -> None:
    from runtime.lifecycle.wiring import LifecycleWiring, principal

    wiring = LifecycleWiring.from_environment(environ)
    try:
        with wiring.database.owner_transaction(principal(owner, actor, "cancel")) as tx:
            tx.record(Action.WRITE, "data_keys", ())
    finally:
        wiring.close()


def _wiring(environ: Mapping[str, str]) -> "LifecycleWiring":
    from runtime.lifecycle.wiring import LifecycleWiring

    return LifecycleWiring.from_environment(environ)


# Replaced in tests: the administration of keys, the lifecycle wiring (database, keyring), the audit of a
# cancellation.
make_admin: Callable[[Mapping[str, str]], OrganisationKeyAdmin] = _admin
make_wiring: Callable[[Mapping[str, str]], "LifecycleWiring"] = _wiring
audit_cancel: Callable[[Mapping[str, str], uuid.UUID, uuid.UUID | None], None] = _audit_cancel


def register(subparsers: "argparse._SubParsersAction[Any]") -> None:
    org = subparsers.add_parser("org", help="per-organisation keys: provision, state, cancel deletion (P6, P10)",
                                description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = org.add_subparsers(dest="org_command", metavar="ORG_COMMAND", required=True)
    provision = commands.add_parser("provision-keys", help="create organisations' own keys (idempotent)")
    provision.add_argument("orgs", type=uuid_argument, nargs="*", metavar="ORG")
    provision.add_argument("--pending", action="store_true", help="every registration waiting for its key")
    provision.add_argument("--actor", type=uuid_argument, metavar="ID", help="who (pseudonymous id, for the audit)")
    provision.set_defaults(handler=provision_command)
    register_key = commands.add_parser("register-key", help="BYOK: check and register the organisation's own "
                                       "KMS key (audited)")
    register_key.add_argument("org", type=uuid_argument, metavar="ORG")
    register_key.add_argument("--key-arn", required=True, help="the key's ARN, arn:aws:kms:<region>:<account>:key/<id>")
    register_key.add_argument("--actor", type=uuid_argument, metavar="ID", help="who (pseudonymous id, for the audit)")
    register_key.set_defaults(handler=register_key_command)
    state = commands.add_parser("key-state", help="the state of an organisation's key")
    state.add_argument("org", type=uuid_argument, metavar="ORG")
    state.set_defaults(handler=state_command)
    cancel = commands.add_parser("cancel-key-deletion", help="cancel an erasure's key deletion (audited)")
    cancel.add_argument("org", type=uuid_argument, metavar="ORG")
    cancel.add_argument("--reason", required=True, help="why (printed for the operator's change record)")
    cancel.add_argument("--actor", type=uuid_argument, metavar="ID", help="who (pseudonymous id, for the audit)")
    cancel.set_defaults(handler=cancel_command)
    migrate = commands.add_parser("migrate-keys", help="re-wrap data keys from the shared key under each "
                                  "organisation's own key (resumable, audited)")
    migrate.add_argument("orgs", type=uuid_argument, nargs="*", metavar="ORG")
    migrate.add_argument("--all", action="store_true", help="every organisation with a platform key")
    migrate.add_argument("--actor", type=uuid_argument, metavar="ID", help="who (pseudonymous id, for the audit)")
    migrate.set_defaults(handler=migrate_command)


def _one_way(args: argparse.Namespace, flag: str) -> bool:
    """ORG ... or the flag, exactly one of them; False (and a usage line) otherwise."""
    if bool(args.orgs) == bool(getattr(args, flag)):
        print(f"error: name organisations (ORG ...) or give --{flag}, one of the two", file=sys.stderr)
        return False
    return True


def provision_command(args: argparse.Namespace) -> int:
    if not _one_way(args, "pending"):
        return 2
    admin = make_admin(os.environ)
    if args.pending:
        return _provision_pending(admin, args.actor)
    for org in args.orgs:
        print(json.dumps(public_status(admin.provision(str(org))), sort_keys=True))
    return 0


def _checker(admin: OrganisationKeyAdmin) -> "CustomerKeyChecker | None":
    """Customer keys checked as this process's role (KMS organisation keys only; None with local ones)."""
    from runtime.envelope.keyrings.customer import CustomerKeyChecker

    if not isinstance(admin, KmsOrganisationKeys):
        return None
    return CustomerKeyChecker(clients("kms"), admin.environment, admin.user_role_arns)


def _provision_pending(admin: OrganisationKeyAdmin, actor: uuid.UUID | None) -> int:
    from runtime.lifecycle.organisation_keys import provision_pending
    from runtime.lifecycle.wiring import principal

    wiring = make_wiring(os.environ)
    try:
        for line in provision_pending(database=wiring.database, connections=wiring.pool, admin=admin,
                                      checker=_checker(admin),
                                      principal_of=lambda owner: principal(owner, actor, "provision")):
            print(json.dumps(line, sort_keys=True), flush=True)
    finally:
        wiring.close()
    return 0


def register_key_command(args: argparse.Namespace) -> int:
    from runtime.envelope.keyrings.customer import CustomerKeyRejectedError
    from runtime.lifecycle.organisation_keys import register_customer_key
    from runtime.lifecycle.wiring import principal

    checker = _checker(make_admin(os.environ))
    if checker is None:
        raise ConfigurationError("an organisation's own key is a KMS key: register-key needs KMS organisation keys "
                                 f"({settings.APP_NAME}), not local ones")
    wiring = make_wiring(os.environ)
    try:
        key = register_customer_key(database=wiring.database, checker=checker,
                                    principal=principal(args.org, args.actor, "byok"), key_arn=args.key_arn)
    except CustomerKeyRejectedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.statement is not None:
            print("add these statements to the key's policy (aws kms put-key-policy), then register again:",
                  file=sys.stderr)
            print(json.dumps(exc.statement, indent=2))
        return 1
    finally:
        wiring.close()
    print(json.dumps({"organisation": key.organisation, "key_arn": key.key_arn, "registered": True},
                     sort_keys=True))
    return 0


def state_command(args: argparse.Namespace) -> int:
    print(json.dumps(public_status(make_admin(os.environ).state(str(args.org))), sort_keys=True))
    return 0


def cancel_command(args: argparse.Namespace) -> int:
    if not args.reason.strip():
        print("error: --reason must say why the deletion is cancelled", file=sys.stderr)
        return 2
    status = make_admin(os.environ).cancel_deletion(str(args.org))
    audit_cancel(os.environ, args.org, args.actor)
    print(json.dumps({**public_status(status), "cancelled": True, "reason": args.reason}, sort_keys=True))
    return 0


def migrate_command(args: argparse.Namespace) -> int:
    from runtime.lifecycle.key_migration import migrate_organisation_keys
    from runtime.lifecycle.organisation_keys import organisations_to_migrate
    from runtime.lifecycle.wiring import principal

    if not _one_way(args, "all"):
        return 2
    choice = choose_keyring(os.environ)
    admin = make_admin(os.environ)
    target = choice.keyring(clients)
    shared = choice.shared_keyring(clients)
    if not hasattr(target, "wrap_data_key"):
        raise ConfigurationError("migrate-keys needs per-organisation keys (PLATFORM_KEYRING_MODE=per-organisation)")
    wiring = make_wiring(os.environ)
    try:
        orgs = organisations_to_migrate(wiring.pool) if args.all else args.orgs
        for done in migrate_organisation_keys(
                database=wiring.database, shared=shared, target=target, admin=admin,
                principals=[principal(org, args.actor, "migrate") for org in orgs]):
            print(json.dumps({"organisation": str(done.organisation), "rewrapped": done.rewrapped,
                              "already_under_its_key": done.already}, sort_keys=True), flush=True)
    finally:
        wiring.close()
    return 0
