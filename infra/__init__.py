"""The Pulumi program for Flywheel: one ComponentResource per layer in `infra/components/`.

`infra/__main__.py` composes them (Pulumi runs it: `pulumi up` from the repository root, whose
`Pulumi.yaml` says `main: infra/`); `infra/config.py` reads the stack configuration; `infra/policies.py`
holds the IAM and bucket policy documents as plain functions; `infra/plan.py` runs the program under
Pulumi's mocks and prints what it would create (`make plan`). Nothing here calls AWS by itself.
"""
