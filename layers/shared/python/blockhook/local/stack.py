"""The whole system on one machine: embedded servers, resources, and the four functions
driven by local stand-ins for EventBridge, the MSK and SQS event sources, and API Gateway."""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from blockhook.local import servers
from blockhook.local.servers import HOST, REPO_ROOT, ServerProcess

logger = logging.getLogger(__name__)

QUEUE_NAME = "blockhook-deliveries"
LOCAL_CHAIN_ID = 31337
KAFKA_BUCKET = "blockhook-local-kafka"  # the embedded Tansu's topics, in the embedded AWS's S3


@dataclass
class LocalOptions:
    """CONTRACT section 1's environment variables, with their local defaults."""

    rpc_url: str | None = None
    chains_file: str | None = None
    kafka_bootstrap: str | None = None
    aws_endpoint: str | None = None
    api_port: int = 8080
    anvil_port: int = 8545
    kafka_port: int = 9092
    aws_port: int = 4566
    poll_interval: float = 1.0
    state_dir: Path = field(default_factory=lambda: REPO_ROOT / ".stack")
    reset: bool = False  # start clean: forget the state of earlier runs

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> LocalOptions:
        env = os.environ if environ is None else environ
        return cls(
            rpc_url=env.get("BLOCKHOOK_RPC_URL") or None,
            chains_file=env.get("BLOCKHOOK_CHAINS_FILE") or None,
            kafka_bootstrap=env.get("BLOCKHOOK_KAFKA_BOOTSTRAP") or None,
            aws_endpoint=env.get("AWS_ENDPOINT_URL") or None,
            api_port=int(env.get("BLOCKHOOK_API_PORT", "8080")),
            anvil_port=int(env.get("BLOCKHOOK_ANVIL_PORT", "8545")),
            kafka_port=int(env.get("BLOCKHOOK_KAFKA_PORT", "9092")),
            aws_port=int(env.get("BLOCKHOOK_AWS_PORT", "4566")),
            poll_interval=float(env.get("BLOCKHOOK_POLL_INTERVAL", "1")),
            state_dir=Path(env.get("BLOCKHOOK_STATE_DIR", str(REPO_ROOT / ".stack"))),
            reset=env.get("BLOCKHOOK_RESET", "").strip().lower() not in ("", "0", "false", "no"),
        )


class LocalSystem:
    def __init__(self, options: LocalOptions) -> None:
        self.options = options
        self.processes: list[ServerProcess] = []
        self.workers: list = []
        self.api = None
        self.chains: list = []
        # Set when a worker cannot run at all: `make up` then stops and says why.
        self.failed = threading.Event()
        self.failure: str | None = None

    def start(self) -> LocalSystem:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        options = self.options
        state = options.state_dir
        logs = state / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = os.environ
        env.setdefault("AWS_ACCESS_KEY_ID", "local")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"]
        # Everything the servers hold lives under the state directory, so a stop and start keeps it: the
        # chain in Anvil's state file, the AWS resources in moto's, the topic in an S3 bucket of that moto.
        rpc_url = options.rpc_url
        if not rpc_url and not options.chains_file:
            anvil = servers.anvil(options.anvil_port, LOCAL_CHAIN_ID, log_path=logs / "anvil.log",
                                  state_path=state / "chain.json")  # fmt: skip
            self._spawn(anvil)
            rpc_url = f"http://{HOST}:{options.anvil_port}"
        aws_endpoint = options.aws_endpoint
        if not aws_endpoint:
            self._spawn(servers.moto(options.aws_port, log_path=logs / "moto.log", state_dir=state / "aws"))
            aws_endpoint = f"http://{HOST}:{options.aws_port}"
        env["AWS_ENDPOINT_URL"] = aws_endpoint
        bootstrap = options.kafka_bootstrap
        if not bootstrap:
            _ensure_bucket(KAFKA_BUCKET)
            tansu = servers.tansu(options.kafka_port, log_path=logs / "tansu.log", s3_endpoint=aws_endpoint,
                                  bucket=KAFKA_BUCKET)  # fmt: skip
            self._spawn(tansu)
            bootstrap = f"{HOST}:{options.kafka_port}"

        env["BLOCKHOOK_MODE"] = "local"
        env["BLOCKHOOK_KAFKA_BOOTSTRAP"] = bootstrap
        env.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        env.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
        env.setdefault("POWERTOOLS_METRICS_NAMESPACE", "blockhook")
        if rpc_url and not options.chains_file:
            env["BLOCKHOOK_RPC_URL"] = rpc_url
        self.chains = self._resolve_chains()

        from blockhook.config import settings
        from blockhook.store.models import create_tables
        from blockhook.store.secret_box import ensure_local_key
        from blockhook.streaming.producer import ensure_topic

        create_tables()
        env["BLOCKHOOK_SECRETS_KEY_ID"] = env.get("BLOCKHOOK_SECRETS_KEY_ID") or ensure_local_key()
        env["BLOCKHOOK_DELIVERY_QUEUE_URL"] = self._create_queue()
        config = settings()
        ensure_topic(bootstrap, config.kafka_topic)

        from blockhook.local import console
        from blockhook.local.api_gateway import ApiGatewayServer
        from blockhook.local.kafka_poller import KafkaPoller
        from blockhook.local.lambdas import LocalFunction
        from blockhook.local.scheduler import Scheduler
        from blockhook.local.sqs_poller import SqsPoller

        api = LocalFunction("api", 29)
        ingest = LocalFunction("ingest", 75)
        matcher = LocalFunction("matcher", 120)
        deliver = LocalFunction("deliver", 30)
        # The web console as `make console` built it (its function says so when it has not been built).
        env.setdefault("BLOCKHOOK_CONSOLE_DIR", str(REPO_ROOT / "build" / "console"))
        site = LocalFunction("console", 3)
        console.adopt(function.service for function in (api, ingest, matcher, deliver, site))
        self.api = ApiGatewayServer(api, options.api_port, console=site).start()
        self.workers = [
            SqsPoller(deliver, config.delivery_queue_url),
            KafkaPoller(matcher, bootstrap, config.kafka_topic, config.kafka_consumer_group),
            Scheduler(ingest),
        ]
        for worker in self.workers:
            worker.on_fatal = self._worker_failed
            worker.start()

    def _worker_failed(self, worker) -> None:
        self.failure = worker.fatal
        self.failed.set()

    def _spawn(self, process: ServerProcess) -> None:
        self.processes.append(process)
        process.start()

    def _resolve_chains(self) -> list:
        """Ask the node(s) once, then give every function the same inline chain list."""
        from blockhook.chain.registry import load_chains

        chains = load_chains()
        if not chains:
            raise RuntimeError("no chain configured")
        os.environ["BLOCKHOOK_CHAINS"] = json.dumps({"chains": [chain.model_dump() for chain in chains]})
        os.environ.pop("BLOCKHOOK_RPC_URL", None)
        os.environ.pop("BLOCKHOOK_CHAINS_FILE", None)
        return chains

    @staticmethod
    def _create_queue() -> str:
        import boto3

        sqs = boto3.client("sqs")
        dead_letters = sqs.create_queue(QueueName=f"{QUEUE_NAME}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dead_letters, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})
        return sqs.create_queue(
            QueueName=QUEUE_NAME, Attributes={"VisibilityTimeout": "60", "RedrivePolicy": redrive}
        )["QueueUrl"]

    def stop(self) -> None:
        if self.api is not None:
            self.api.stop()
            self.api = None
        for worker in reversed(self.workers):
            worker.stop()
        if self.workers:
            _close_kafka_clients()  # before the broker goes: a client left connected logs errors then
        self.workers = []
        for process in reversed(self.processes):
            process.stop()
        self.processes = []

    def describe(self) -> str:
        from blockhook.config import settings

        keys = ", ".join(settings().api_keys)
        lines = [
            "blockhook is running",
            f"  console     http://{HOST}:{self.options.api_port}/console   (sign in with an API key below)",
            f"  REST API    http://{HOST}:{self.options.api_port}/v1   (header x-api-key: {keys})",
        ]
        for chain in self.chains:
            lines.append(f"  chain       {chain.chain_id} via {', '.join(chain.rpc_urls)}")
        lines += [
            f"  Kafka       {os.environ['BLOCKHOOK_KAFKA_BOOTSTRAP']}  topic {settings().kafka_topic}",
            f"  AWS APIs    {os.environ['AWS_ENDPOINT_URL']}",
            f"  logs        {self.options.state_dir / 'logs'}",
            "Ctrl-C stops everything.",
        ]
        return "\n".join(lines)


def clear_state(state_dir: Path) -> None:
    """Forget everything earlier runs kept (BLOCKHOOK_RESET=1)."""
    if state_dir.is_dir():
        shutil.rmtree(state_dir)


def _ensure_bucket(name: str) -> None:
    import boto3

    s3 = boto3.client("s3")
    try:
        s3.head_bucket(Bucket=name)
    except s3.exceptions.ClientError:
        s3.create_bucket(Bucket=name)


def _close_kafka_clients() -> None:
    from blockhook.wiring import chain_ingests

    if chain_ingests.cache_info().currsize:
        producers = {id(ingest.producer): ingest.producer for ingest in chain_ingests()}
        for producer in producers.values():
            producer.close()
