"""Registry: the ECR repositories of the training and inference images.

Tags are immutable (a tag names one image forever, so a model's record of the image that trained it
stays true), images are scanned on push and encrypted with the lake's KMS key, and untagged layers are
expired. What it does not know: how the images are built (containers/*/Dockerfile, README.md, "Deploy to AWS").
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from flywheel.names import StackNames
from infra import policies

IMAGES = ("training", "inference")


def lifecycle_policy(keep_tagged: int = 30) -> dict:
    """Expire untagged images after a day; keep the newest `keep_tagged` tagged ones."""
    return {"rules": [
        {"rulePriority": 1, "description": "expire untagged images",
         "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                       "countNumber": 1},
         "action": {"type": "expire"}},
        {"rulePriority": 2, "description": f"keep the newest {keep_tagged} tagged images",
         "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_tagged},
         "action": {"type": "expire"}},
    ]}


def repository_name(names: StackNames, image: str) -> str:
    return f"{names.prefix}-{image}"


@dataclass(frozen=True)
class RegistryArgs:
    names: StackNames
    kms_key_arn: pulumi.Input[str]
    force_delete: bool = False


class Registry(pulumi.ComponentResource):
    """Two ECR repositories; outputs their URLs and ARNs by image name."""

    repository_urls: dict[str, pulumi.Output[str]]
    repository_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flywheel:registry:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repository_urls, self.repository_arns = {}, {}
        for image in IMAGES:
            repo = aws.ecr.Repository(
                f"{name}-{image}", name=repository_name(args.names, image), image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(
                    encryption_type="KMS", kms_key=args.kms_key_arn)],
                force_delete=args.force_delete, tags=policies.tags(args.names, "registry"), opts=child)
            aws.ecr.LifecyclePolicy(f"{name}-{image}-lifecycle", repository=repo.name,
                                    policy=json.dumps(lifecycle_policy()), opts=child)
            self.repository_urls[image] = repo.repository_url
            self.repository_arns[image] = repo.arn
        self.register_outputs({f"{image}_url": url for image, url in self.repository_urls.items()})
