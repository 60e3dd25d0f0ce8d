"""CDK entry point (cdk.json: `.venv/bin/python infra/app.py`, run from the repository root)."""

from __future__ import annotations

import sys

import aws_cdk as cdk
from blockhook_infra.chains import ChainsContextError
from blockhook_infra.paths import MissingBuildError
from blockhook_infra.stack import STACK_NAME, BlockhookStack


def main() -> None:
    app = cdk.App()
    try:
        BlockhookStack(app, STACK_NAME, description="blockhook: blockchain event monitor")
    except (MissingBuildError, ChainsContextError) as err:
        sys.exit(f"blockhook synth: {err}")
    app.synth()


if __name__ == "__main__":
    main()
