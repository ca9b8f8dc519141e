"""`python -m e2e.moto_launcher -H HOST -p PORT`: moto's server (`moto.server.main`), with one defect of
moto 5.2.5 worked around, so the emulation can read the backend's state back.

`GET /moto-api/data.json` lists every model's attributes; the life-cycle test reads SES's sent messages from
it (who got which notification: SES's own API only counts them). It answers 500 as soon as an RDS cluster
or instance exists: their `master_user_password` (and a few other) properties raise NotImplementedError,
and `model_data` skips only attributes that raise TypeError, AttributeError or ValueError. Here it skips an
attribute that raises anything, and `?service=NAME` limits the answer to one service (the whole backend
takes seconds to walk). Nothing else of moto is changed; the environment (INITIAL_NO_AUTH_ACTION_COUNT,
MOTO_ACCOUNT_ID) is read by moto as with `python -m moto.server`.
"""

from __future__ import annotations

import json
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit


def _model_data(self: Any, request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    from moto.core.model_instances import model_data

    wanted = parse_qs(urlsplit(full_url).query).get("service")
    results: dict[str, dict[str, list[Any]]] = {}
    for service in sorted(model_data):
        if wanted and service not in wanted:
            continue
        models = model_data[service]
        results[service] = {}
        for name in sorted(models):
            results[service][name] = []
            for instance in models[name].instances_tracked:  # type: ignore[attr-defined]
                found: dict[str, Any] = {}
                for attribute in dir(instance):
                    if attribute.startswith("_"):
                        continue
                    try:
                        value = getattr(instance, attribute)
                        json.dumps(value)
                    except Exception:  # noqa: S112 (moto's own: skip what cannot be shown)
                        continue
                    found[attribute] = value
                results[service][name].append(found)
    return 200, {"Content-Type": "application/javascript"}, json.dumps(results)


def main(argv: list[str]) -> None:
    from moto import server
    from moto.moto_api._internal import responses, urls

    responses.MotoAPIResponse.model_data = _model_data  # type: ignore[method-assign]
    urls.url_paths["{0}/moto-api/data.json"] = urls.response_instance.model_data
    server.main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
