"""The runtime image: the Dockerfile (built by `cdk deploy`, not at synth), or the customer's own image: from ECR
by tag or by digest (the execution role gets pull rights), or from any registry."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk.aws_ecr_assets import Platform
from constructs import Construct

RUNTIME_DIR: Final = Path(__file__).resolve().parent.parent.parent / "runtime"
# An ECR image by tag (`...amazonaws.com/repo:1.2.0`) or by digest (`...amazonaws.com/repo@sha256:<64 hex>`,
# what RELEASING.md recommends: the image cannot change under the same reference).
ECR_IMAGE: Final = re.compile(
    r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/(?P<repository>[^:@]+)"
    r"(?::(?P<tag>[\w.-]+)|@(?P<digest>sha256:[0-9a-f]{64}))$"
)


def runtime_image(scope: Construct, image_uri: str | None) -> ecs.ContainerImage:
    if not image_uri:
        # Built for the tasks' X86_64 platform whatever the builder's architecture (an arm64 laptop).
        return ecs.ContainerImage.from_asset(
            str(RUNTIME_DIR), exclude=["**/__pycache__", "**/*.pyc"], platform=Platform.LINUX_AMD64
        )
    ecr_image = ECR_IMAGE.match(image_uri)
    if ecr_image:
        repository = ecr.Repository.from_repository_name(scope, "ImageRepository", ecr_image["repository"])
        # `tag` takes a tag or a digest (ContainerImage.from_ecr_repository: tagOrDigest).
        return ecs.ContainerImage.from_ecr_repository(repository, tag=ecr_image["tag"] or ecr_image["digest"])
    return ecs.ContainerImage.from_registry(image_uri)
