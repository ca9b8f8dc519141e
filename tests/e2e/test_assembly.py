"""The assembly reader and the task-definition helpers on a small hand-made cloud assembly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from e2e.assembly import AssemblyError, read_environment
from e2e.tasks import LocalPaths, local_path, read_image, select, split_secret_reference

TASK: dict[str, Any] = {
    "Type": "AWS::ECS::TaskDefinition",
    "Metadata": {"aws:cdk:path": "dev/Service/Job/Resource"},
    "Properties": {"ContainerDefinitions": [{
        "Command": ["python", "-m", "runtime", "db", "setup"],
        "Environment": [{"Name": "PLATFORM_SERVICE_MODE", "Value": "job"}],
    }]},
}


def _write(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))


@pytest.fixture
def outdir(tmp_path: Path) -> Path:
    _write(tmp_path / "manifest.json", {"artifacts": {"assembly-dev": {
        "type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-dev", "displayName": "dev"}}}})
    nested = tmp_path / "assembly-dev"
    _write(nested / "manifest.json", {"artifacts": {
        "devService": {"type": "aws:cloudformation:stack", "environment": "aws://111111111111/eu-west-1",
                       "displayName": "dev/Service",
                       "properties": {"templateFile": "devService.template.json", "stackName": "adp-dev-service"}},
        "devService.assets": {"type": "cdk:asset-manifest", "properties": {"file": "devService.assets.json"}},
    }})
    _write(nested / "devService.template.json", {"Resources": {"Job": TASK}})
    _write(nested / "devService.assets.json", {"dockerImages": {"abc": {"source": {"directory": "../asset.abc"}}}})
    return tmp_path


def test_read_environment_finds_stacks_account_region_and_images(outdir: Path) -> None:
    env = read_environment(outdir, "dev")
    assert list(env.stacks) == ["adp-dev-service"]
    assert (env.account, env.region) == ("111111111111", "eu-west-1")
    assert env.stacks["adp-dev-service"].path == "dev/Service"
    assert env.images == {"abc": (outdir / "asset.abc").resolve()}


def test_read_environment_unknown_name_lists_the_known(outdir: Path) -> None:
    with pytest.raises(AssemblyError, match=r"no environment 'qa'.*it has: dev"):
        read_environment(outdir, "qa")


def test_read_environment_without_manifest_says_synthesize(tmp_path: Path) -> None:
    with pytest.raises(AssemblyError, match="synthesize first"):
        read_environment(tmp_path, "dev")


def test_select_by_command_prefix_and_mode_finds_task(outdir: Path) -> None:
    env = read_environment(outdir, "dev")
    assert [t.path for t in select(env, command=["python", "-m", "runtime", "db", "setup"])] == [
        "dev/Service/Job/Resource"]
    assert [t.logical_id for t in select(env, mode="job")] == ["Job"]
    assert select(env, mode="owner") == []


def test_split_secret_reference_json_key_suffix_is_parsed() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:rds!cluster-abc-AbCdEf"
    assert split_secret_reference(f"{arn}:password::") == (arn, "password")
    assert split_secret_reference(arn) == (arn, None)


def test_local_path_maps_image_paths_most_specific_first(tmp_path: Path) -> None:
    paths = LocalPaths(database_ca=tmp_path / "ca.pem", scratch=tmp_path / "tmp", app=tmp_path / "repo")
    assert local_path("/app/certs/rds-global-bundle.pem", paths) == str(tmp_path / "ca.pem")
    assert local_path("/tmp/x", paths) == str(tmp_path / "tmp" / "x")
    assert local_path("/app/runtime", paths) == str(tmp_path / "repo" / "runtime")
    assert local_path("/application", paths) == "/application"


def test_read_image_takes_final_stage_cmd_and_env(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text('FROM a\nCMD ["x"]\nFROM b\nENV HOME=/tmp \\\n    TMPDIR=/tmp\n'
                          'HEALTHCHECK CMD ["python", "-c", "1"]\nCMD ["python", "-m", "runtime", "serve"]\n')
    image = read_image(dockerfile)
    assert image.command == ["python", "-m", "runtime", "serve"]
    assert image.environment == {"HOME": "/tmp", "TMPDIR": "/tmp"}
