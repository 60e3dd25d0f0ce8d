"""The web console's function: the files `make console` built, served at /console by API Gateway.

It has the shared layer alone (the site module is standard library) and no grant but its logs: the
page calls /v1 with the key its user types. The built files are copied beside its handler as site/
when the stack is synthesised, by a local bundling step (no Docker).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, Duration, ILocalBundling, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .paths import ASSET_EXCLUDES, console_site_dir, function_dir

SITE_FOLDER = "site"  # beside handler.py in the function's package (functions/console/handler.py)


@jsii.implements(ILocalBundling)
class _HandlerWithSite:
    def __init__(self, handler_dir: Path, site_dir: Path) -> None:
        self.handler_dir = handler_dir
        self.site_dir = site_dir

    def try_bundle(self, output_dir: str, _options) -> bool:
        output = Path(output_dir)
        shutil.copy2(self.handler_dir / "handler.py", output / "handler.py")
        shutil.copytree(self.site_dir, output / SITE_FOLDER, ignore=shutil.ignore_patterns(".built"))
        return True


class Console(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        shared_layer: lambda_.ILayerVersion,
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
    ) -> None:
        super().__init__(scope, construct_id)
        handler_dir, site_dir = function_dir("console"), console_site_dir()
        log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=runtime,
            architecture=architecture,
            handler="handler.handler",
            code=lambda_.Code.from_asset(
                str(handler_dir),
                exclude=ASSET_EXCLUDES,
                asset_hash_type=AssetHashType.OUTPUT,
                bundling=BundlingOptions(
                    # Never pulled: the local step below always bundles.
                    image=DockerImage.from_registry("blockhook-console-local-bundling"),
                    local=_HandlerWithSite(handler_dir, site_dir),
                ),
            ),
            layers=[shared_layer],
            memory_size=256,
            timeout=Duration.seconds(5),
            log_group=log_group,
            description="blockhook web console (static files)",
        )
