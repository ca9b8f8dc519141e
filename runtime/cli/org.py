"""`python -m runtime org ...`: the control plane of per-organisation keys (P6, P10). Thin: parse, wire, report.

    org provision-keys ORG [ORG ...]
        create each organisation's own key if it has none (idempotent): KMS key with tags (environment, app,
        organisation), rotation on, alias alias/<app>-<env>-org-<id>, and a key policy admitting only this
        environment's runtime roles with the organisation id in the encryption context; locally, a key file.
        Until it has run, the organisation's requests get 503 organisation-key-unavailable.
    org key-state ORG
        the state of the organisation's key (enabled, disabled, pending-deletion, missing), as JSON.
    org cancel-key-deletion ORG --reason TEXT [--actor ID]
        cancel the deletion an erasure scheduled, within its pending window (KMS keys only), and re-enable the
        key; audited (an audit ledger event on the organisation, actor and request id; the reason is printed,
        never stored: it is free text).

    org migrate-keys ORG [ORG ...] [--actor ID]
        re-wrap each organisation's existing data keys from the environment's old shared key (still set next to
        the per-organisation settings) under its own key (provisioned if missing): per organisation, committed as
        it goes (a re-run continues), idempotent, one audit ledger event per organisation
        (runtime/lifecycle/key_migration.py). Prints one JSON line per organisation.

Settings: runtime/wiring/keyring.py (PLATFORM_APP_NAME, or PLATFORM_LOCAL_ORGANISATION_KEYS_DIR in local runs),
and for provisioning PLATFORM_ORGANISATION_KEY_USER_ROLE_ARNS and PLATFORM_ORGANISATION_KEY_ADMIN_ROLE_ARN.
"""

import argparse
import json
import os
import sys
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from runtime.audit.events import Action
from runtime.cli.arguments import uuid_argument
from runtime.envelope import KeyStatus, OrganisationKeyAdmin
from runtime.errors import ConfigurationError
from runtime.wiring.clients import ClientFactory, aws_client
from runtime.wiring.keyring import choose_keyring

clients: ClientFactory = aws_client  # replaced in tests


def _admin(environ: Mapping[str, str]) -> OrganisationKeyAdmin:
    admin = choose_keyring(environ).organisation_keys(environ, clients)
    if admin is None:
        raise ConfigurationError("this environment uses a shared key (PLATFORM_KEYRING_MODE=shared): there are no "
                                 "organisation keys to administer")
    return admin


def _audit_cancel(environ: Mapping[str, str], owner: uuid.UUID, actor: uuid.UUID | None) -> None:
    from runtime.lifecycle.wiring import LifecycleWiring, principal

    wiring = LifecycleWiring.from_environment(environ)
    try:
        with wiring.database.owner_transaction(principal(owner, actor, "cancel-key-deletion")) as tx:
            tx.record(Action.WRITE, "data_keys", ())
    finally:
        wiring.close()


# Replaced in tests: the administration of keys, and the audit of a cancellation.
make_admin: Callable[[Mapping[str, str]], OrganisationKeyAdmin] = _admin
audit_cancel: Callable[[Mapping[str, str], uuid.UUID, uuid.UUID | None], None] = _audit_cancel


def register(subparsers: "argparse._SubParsersAction[Any]") -> None:
    org = subparsers.add_parser("org", help="per-organisation keys: provision, state, cancel deletion (P6, P10)",
                                description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = org.add_subparsers(dest="org_command", metavar="ORG_COMMAND", required=True)
    provision = commands.add_parser("provision-keys", help="create organisations' own keys (idempotent)")
    provision.add_argument("orgs", type=uuid_argument, nargs="+", metavar="ORG")
    provision.set_defaults(handler=provision_command)
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
    migrate.add_argument("orgs", type=uuid_argument, nargs="+", metavar="ORG")
    migrate.add_argument("--actor", type=uuid_argument, metavar="ID", help="who (pseudonymous id, for the audit)")
    migrate.set_defaults(handler=migrate_command)


def _public(status: KeyStatus) -> dict[str, Any]:
    return {"organisation": status.organisation, "state": status.state.value, "key_id": status.key_id,
            "deletion_date": status.deletion_date.isoformat() if status.deletion_date else None}


def provision_command(args: argparse.Namespace) -> int:
    admin = make_admin(os.environ)
    for org in args.orgs:
        print(json.dumps(_public(admin.provision(str(org))), sort_keys=True))
    return 0


def state_command(args: argparse.Namespace) -> int:
    print(json.dumps(_public(make_admin(os.environ).state(str(args.org))), sort_keys=True))
    return 0


def cancel_command(args: argparse.Namespace) -> int:
    if not args.reason.strip():
        print("error: --reason must say why the deletion is cancelled", file=sys.stderr)
        return 2
    status = make_admin(os.environ).cancel_deletion(str(args.org))
    audit_cancel(os.environ, args.org, args.actor)
    print(json.dumps({**_public(status), "cancelled": True, "reason": args.reason}, sort_keys=True))
    return 0


def migrate_command(args: argparse.Namespace) -> int:
    from runtime.lifecycle.key_migration import migrate_organisation_keys
    from runtime.lifecycle.wiring import LifecycleWiring, principal

    choice = choose_keyring(os.environ)
    admin = make_admin(os.environ)
    target = choice.keyring(clients)
    shared = choice.shared_keyring(clients)
    if not hasattr(target, "wrap_data_key"):
        raise ConfigurationError("migrate-keys needs per-organisation keys (PLATFORM_KEYRING_MODE=per-organisation)")
    wiring = LifecycleWiring.from_environment(os.environ)
    try:
        for done in migrate_organisation_keys(
                database=wiring.database, shared=shared, target=target, admin=admin,
                principals=[principal(org, args.actor, "migrate-keys") for org in args.orgs]):
            print(json.dumps({"organisation": str(done.organisation), "rewrapped": done.rewrapped,
                              "already_under_its_key": done.already}, sort_keys=True), flush=True)
    finally:
        wiring.close()
    return 0
