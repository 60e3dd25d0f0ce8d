"""CDK entry point (cdk.json: `.venv/bin/python infra/app.py`, run from the repository root)."""

from __future__ import annotations

import sys
from pathlib import Path

# The app validates the `chains` context with the shared package's own chain registry. `make synth`
# puts the package on PYTHONPATH; a bare `npx cdk synth` may not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "shared" / "python"))

import aws_cdk as cdk  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from blockhook_infra.chains import ChainsContextError  # noqa: E402
from blockhook_infra.options import OptionsContextError  # noqa: E402
from blockhook_infra.paths import MissingBuildError  # noqa: E402
from blockhook_infra.stack import BlockhookStack  # noqa: E402
from blockhook_infra.tenants import TenantsContextError  # noqa: E402


def main() -> None:
    app = cdk.App()
    # cdk-nag's AwsSolutions rules run as a policy-validation plugin: an unacknowledged finding fails synth.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks())
    try:
        # BlockhookStack, or <prefix>-BlockhookStack with -c prefix=<prefix>: `cdk deploy` takes that name.
        BlockhookStack(app, description="blockhook: blockchain event monitor")
    except (MissingBuildError, ChainsContextError, TenantsContextError, OptionsContextError) as err:
        sys.exit(f"blockhook synth: {err}")
    app.synth()


if __name__ == "__main__":
    main()
