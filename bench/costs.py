"""What blockhook costs a month on AWS: the tables of docs/costs.md, computed from one set of inputs.

Three kinds of input, each a named line with its source:

- PRICES: us-east-1 list prices at the time of writing (check the AWS pricing pages);
- MEASURED: figures read from the benchmark results in bench/results/ (file and field named), so a
  new benchmark run changes the cost tables the next time this script writes them;
- ESTIMATES: what no benchmark measures yet (network latency of a DynamoDB call in Lambda, the
  write units of a delivery attempt, log bytes...), each with the reasoning behind it.

    .venv/bin/python bench/costs.py                        # print every table
    .venv/bin/python bench/costs.py --write docs/costs.md  # rewrite the doc's generated tables

The doc's tables sit between `<!-- costs.py: NAME -->` and `<!-- /costs.py -->` markers;
tests/unit/bench/test_costs.py checks that they equal this script's output.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
HOURS_MONTH = 730
SECONDS_MONTH = HOURS_MONTH * 3600
GB = 1e9


@dataclass(frozen=True)
class Input:
    key: str
    what: str
    value: float
    unit: str
    source: str


# --- prices (us-east-1, on-demand, no free tier) ---------------------------------------------------

PRICES = [
    Input("msk_sl_cluster_hour", "MSK Serverless cluster", 0.75, "$ per cluster-hour", "MSK pricing"),
    Input("msk_sl_partition_hour", "MSK Serverless partition", 0.0015, "$ per partition-hour", "MSK pricing"),
    Input("msk_sl_in_gb", "MSK Serverless data in", 0.10, "$ per GB", "MSK pricing"),
    Input("msk_sl_out_gb", "MSK Serverless data out", 0.05, "$ per GB", "MSK pricing"),
    Input("msk_sl_storage_gb_month", "MSK Serverless storage", 0.10, "$ per GB-month", "MSK pricing"),
    Input("msk_t3_small_hour", "MSK broker kafka.t3.small", 0.0456, "$ per broker-hour", "MSK pricing"),
    Input("msk_m7g_large_hour", "MSK broker kafka.m7g.large", 0.204, "$ per broker-hour", "MSK pricing"),
    Input("msk_storage_gb_month", "MSK provisioned broker storage (EBS)", 0.10, "$ per GB-month", "MSK pricing"),
    Input("cross_az_gb", "EC2 data between AZs (each direction)", 0.01, "$ per GB", "EC2 data transfer pricing"),
    Input("nat_hour", "NAT gateway", 0.045, "$ per hour", "VPC pricing"),
    Input("nat_gb", "NAT gateway data processed", 0.045, "$ per GB", "VPC pricing"),
    Input("epu_hour", "Lambda event poller unit (Kafka provisioned mode)", 0.185, "$ per EPU-hour", "Lambda pricing"),
    Input("lambda_gb_s", "Lambda compute (x86)", 0.0000166667, "$ per GB-s", "Lambda pricing"),
    Input("lambda_request", "Lambda requests", 0.20, "$ per million", "Lambda pricing"),
    Input("ddb_wru", "DynamoDB on-demand write request unit", 0.625, "$ per million", "DynamoDB pricing"),
    Input("ddb_rru", "DynamoDB on-demand read request unit", 0.125, "$ per million", "DynamoDB pricing"),
    Input("ddb_storage_gb_month", "DynamoDB storage", 0.25, "$ per GB-month", "DynamoDB pricing"),
    Input("ddb_pitr_gb_month", "DynamoDB point-in-time recovery", 0.20, "$ per GB-month", "DynamoDB pricing"),
    Input("sqs_request", "SQS standard requests (64 KB each)", 0.40, "$ per million", "SQS pricing"),
    Input("apigw_request", "API Gateway REST requests", 3.50, "$ per million", "API Gateway pricing"),
    Input("kms_key_month", "KMS customer managed key", 1.00, "$ per key-month", "KMS pricing"),
    Input("kms_request", "KMS requests", 0.03, "$ per 10,000", "KMS pricing"),
    Input("secret_month", "Secrets Manager secret (an RPC URL)", 0.40, "$ per secret-month", "Secrets Manager pricing"),
    Input("cw_alarm_metric", "CloudWatch standard alarm, per metric it reads", 0.10, "$ per month", "CloudWatch pricing"),
    Input("cw_metric", "CloudWatch custom metric", 0.30, "$ per metric-month", "CloudWatch pricing"),
    Input("cw_dashboard", "CloudWatch dashboard", 3.00, "$ per month", "CloudWatch pricing"),
    Input("cw_logs_gb", "CloudWatch Logs ingestion", 0.50, "$ per GB", "CloudWatch pricing"),
    Input("cw_logs_storage_gb_month", "CloudWatch Logs storage", 0.03, "$ per GB-month", "CloudWatch pricing"),
    Input("xray_trace", "X-Ray traces recorded", 5.00, "$ per million", "X-Ray pricing"),
    Input("internet_out_gb", "Data out to the internet (webhooks)", 0.09, "$ per GB", "EC2 data transfer pricing"),
]


# --- measured, from bench/results ------------------------------------------------------------------

def _field(name: str, path: str) -> float:
    data = json.loads((RESULTS / name).read_text())
    value = data
    for part in path.split("."):
        if isinstance(value, list):
            value = value[int(part)]
        elif part in value:
            value = value[part]
        else:
            raise KeyError(f"bench/results/{name} has no field {path!r}: update MEASURED in bench/costs.py")
    return value


def _scenario(**match) -> dict:
    for scenario in _field("matcher.json", "round_trips.scenarios"):
        if all(scenario[k] == v for k, v in match.items()):
            return scenario
    raise KeyError(f"bench/results/matcher.json has no round_trips scenario {match}: update bench/costs.py")


def measured() -> list[Input]:
    events_per_block = _field("matcher.json", "throughput.events_per_block")
    quiet = _scenario(scenario="10 blocks, no match", index_addresses=1000)
    busy = _scenario(scenario="100 blocks, 0.1% match", index_addresses=100000)
    ddb_per_block = quiet["dynamodb_round_trips"] / quiet["blocks"]
    ingest_stages = _field("profile_ingest.json", "us_per_block")
    ingest_events = _field("profile_ingest.json", "events_per_block")
    return [
        Input("events_per_block", "events in a mainnet-shaped block (bench/synthetic.py)", events_per_block,
              "events", "matcher.json: throughput.events_per_block"),
        Input("matcher_us_per_block", "matcher Lambda path, CPU per block of that shape, 1,000,000 addresses watched",
              _field("matcher.json", "throughput.us_per_block.lambda batch, version 2, all of it"), "µs (one core)",
              "matcher.json: throughput.us_per_block.\"lambda batch, version 2, all of it\""),
        Input("kafka_bytes_per_event", "Kafka message bytes per event (JSON, uncompressed, message version 2)",
              _field("matcher.json", "throughput.kafka_bytes_per_event.version_2"),
              "bytes", "matcher.json: throughput.kafka_bytes_per_event.version_2"),
        Input("matcher_ddb_calls_per_block", "matcher DynamoDB calls per block with no match", ddb_per_block,
              "calls", "matcher.json: round_trips \"10 blocks, no match\": dynamodb_round_trips / blocks"),
        Input("matcher_ddb_calls_per_match", "matcher DynamoDB calls per matched event",
              round((busy["dynamodb_round_trips"] - ddb_per_block * busy["blocks"]) / busy["matches"], 2), "calls",
              "matcher.json: round_trips \"100 blocks, 0.1% match\" (100,000 addresses): "
              "(dynamodb_round_trips - blocks x the above) / matches"),
        Input("matcher_sqs_calls_per_delivery", "matcher SQS calls per delivery",
              round(busy["sqs_round_trips"] / busy["deliveries"], 2), "calls",
              "matcher.json: same scenario, sqs_round_trips / deliveries"),
        Input("ingest_us_per_event", "ingest CPU per event besides the fetch (events + encoding)",
              round((ingest_stages["block_events"] + ingest_stages["encode_block"]) / ingest_events, 1), "µs",
              "profile_ingest.json: (us_per_block.block_events + encode_block) / events_per_block"),
        Input("delivery_record_wcu", "DynamoDB writes to record one numbered delivery of one event",
              _field("sequence_cost.json", "runs.0.wcu_per_delivery_numbered"), "WRU",
              "sequence_cost.json: runs[0].wcu_per_delivery_numbered"),
        Input("delivery_record_rcu", "DynamoDB reads to number it (counter not known to the process)",
              _field("sequence_cost.json", "runs.0.extra_rcu_per_delivery_counter_unknown"), "RRU",
              "sequence_cost.json: runs[0].extra_rcu_per_delivery_counter_unknown"),
        Input("delivery_item_bytes", "delivery item of one event (also its webhook body, about)",
              _field("sequence_cost.json", "runs.0.delivery_item_bytes"), "bytes",
              "sequence_cost.json: runs[0].delivery_item_bytes"),
        Input("address_add_wcu", "DynamoDB writes per address added through the API",
              round(_field("address_api.json", "write_units") / _field("address_api.json", "addresses"), 4), "WRU",
              "address_api.json: write_units / addresses"),
        Input("address_item_bytes", "bytes of an address in both address tables",
              _field("address_api.json", "write_units_detail.address_tables.blockhook-monitor-addresses.bytes_per_item.max")
              + _field("address_api.json", "write_units_detail.address_tables.blockhook-address-index.bytes_per_item.max"),
              "bytes", "address_api.json: write_units_detail.address_tables.*.bytes_per_item.max, summed"),
    ]


# --- estimates: what no benchmark measures ----------------------------------------------------------

ESTIMATES = [
    Input("lambda_vcpu_share", "CPU share of a 1,024 MB Lambda", round(1024 / 1769, 3), "vCPU",
          "Lambda gives one vCPU at 1,769 MB, in proportion below; the bench core taken as a Lambda vCPU"),
    Input("ddb_latency_ms", "wall time of a DynamoDB or SQS call from Lambda", 8, "ms",
          "typical in-region latency; billed as Lambda time while the function waits"),
    Input("rpc_bytes_per_event", "RPC JSON fetched per event (blocks + receipts), through the NAT", 1100, "bytes",
          "bench/README.md, ingest profile: ~300 KB of JSON a block of 270 events"),
    Input("esm_payload_factor", "mapping's invoke payload / Kafka bytes (base64 of the records)", round(4 / 3, 3),
          "x", "the mapping reaches Lambda from the cluster's subnets, through the NAT"),
    Input("ingest_seconds_per_minute", "ingest run length per one-minute tick", 60, "s",
          "75 s timeout - 15 s stop margin (functions.py)"),
    Input("ingest_checkpoint_wcu_per_block", "ingest checkpoint write per block at live rates", 2, "WRU",
          "one State item (number and hash window) of 1-2 KB per poll that found a block"),
    Input("match_wcu", "match record per matched event: written pending with its index entry, then settled", 6,
          "WRU", "a ~1.3 KB item: 2 + 2 (pending_by_chain entry) + 2 (settled)"),
    Input("attempt_wcu", "DynamoDB writes per delivery attempt", 14, "WRU",
          "claim and outcome updates of the ~1.3-2 KB delivery item and its two indexes (2 x 6), "
          "endpoint health and stats (2)"),
    Input("attempt_rcu", "DynamoDB reads per delivery attempt", 2, "RRU", "the delivery and its monitor"),
    Input("attempt_calls", "DynamoDB and SQS calls per delivery attempt", 6, "calls",
          "2 reads, 3 writes, the SQS delete"),
    Input("kms_per_attempt", "KMS decrypts per delivery attempt", 0.01, "calls",
          "a warm deliver keeps the secrets it decrypted: about one call per monitor and function instance"),
    Input("receiver_ms", "webhook receiver's answer time", 200, "ms", "the deliver function waits for it"),
    Input("attempts_per_delivery", "attempts per delivery", 1.05, "attempts", "5% of deliveries retried once"),
    Input("api_ms", "api function time per request", 100, "ms", "a few DynamoDB calls"),
    Input("kafka_retention_days", "topic retention (storage held)", 7, "days",
          "the cluster default (MSK Serverless and the provisioned configuration)"),
    Input("log_bytes_per_block", "CloudWatch log bytes per block (ingest + matcher lines)", 1000, "bytes",
          "one ingest line per block, the matcher's per batch, Lambda's REPORT lines"),
    Input("log_bytes_per_attempt", "CloudWatch log bytes per delivery attempt", 1500, "bytes",
          "deliver's attempt line and REPORT line"),
    Input("log_bytes_per_ingest_run", "CloudWatch log bytes per ingest run", 2000, "bytes",
          "start, summary, metrics and REPORT lines"),
    Input("fixed_alarm_metrics", "metrics read by the deployment-wide alarms", 12, "metrics",
          "10 alarms of monitoring.py, two of them metric math over two metrics"),
    Input("alarm_metrics_per_chain", "metrics read by each chain's alarms", 2, "metrics",
          "ChainStalled and IngestLag (monitoring.py)"),
    Input("fixed_custom_metrics", "custom metrics of the deployment", 8, "metrics",
          "ingest, matcher and deliver counters (powertools, dimension service)"),
    Input("custom_metrics_per_chain", "custom metrics per chain", 2, "metrics", "IngestLagBlocks, ChainHeadAgeSeconds"),
    Input("sqs_idle_requests", "SQS long polls of the deliver mapping at idle", 657000, "requests a month",
          "5 pollers x 3 receives a minute (20 s long polls)"),
    Input("xray_reservoir", "X-Ray traces kept per second per function before sampling", 1, "per s",
          "the default sampling rule: 1 a second, then 5%"),
    Input("ddb_item_overhead", "DynamoDB storage overhead per item", 100, "bytes", "DynamoDB's sizing rule"),
    Input("delivered_retention_days", "days a delivered delivery is kept", 30, "days",
          "DELIVERED_RETENTION_SECONDS (store/deliveries.py)"),
]

# Kafka: what runs the topic.
TOPIC_PARTITIONS = 3  # infra/blockhook_infra/topics.py
PROVISIONED_BROKERS = 3
PROVISIONED_STORAGE_GB = 100  # the kafka_broker_storage_gb default (infra/blockhook_infra/options.py)
# A provisioned broker's disk holds every partition (3 brokers, replication 3): sized with headroom.
STORAGE_HEADROOM = 1.5
# Data in a second above which a t3.small cluster is not the broker to pick (its network and CPU
# are burstable: baseline ~5% CPU credits are for a quiet topic); the comparison then uses m7g.large.
T3_SMALL_MAX_MB_S = 1.0


@dataclass(frozen=True)
class Size:
    key: str
    title: str
    chains: int
    block_seconds: float
    events_per_block: float | None  # None: the measured mainnet shape
    addresses: int
    matched_events_month: float
    address_adds_month: float
    api_requests_month: float
    why: str


SIZES = [
    Size("small", "1 chain, 1,000 addresses", 1, 12, None, 1_000, 10_000, 1_000, 10_000,
         "Ethereum mainnet: a block every 12 s of the benchmark's mainnet shape; an exchange's 1,000 deposit "
         "addresses receiving ~330 transfers a day; 1,000 addresses added in the month; 10,000 API calls"),
    Size("medium", "5 chains, 1,000,000 addresses", 5, 12, None, 1_000_000, 1_000_000, 100_000, 1_000_000,
         "five mainnet-shaped chains (12 s blocks); 1,000,000 watched addresses receiving 1,000,000 transfers "
         "a month (~0.07% of events); 100,000 addresses added; 1,000,000 API calls"),
    Size("large", "20 chains at BSC rates", 20, 3, None, 1_000_000, 10_000_000, 1_000_000, 10_000_000,
         "twenty chains with BSC's 3 s blocks, each block of the mainnet shape (BSC blocks carry a "
         "similar number of transactions and logs, four times as often); 1,000,000 addresses; 10,000,000 "
         "matched events; 1,000,000 addresses added; 10,000,000 API calls"),
]


class Model:
    def __init__(self) -> None:
        self.inputs = {i.key: i.value for i in PRICES + measured() + ESTIMATES}

    def __getitem__(self, key: str) -> float:
        return self.inputs[key]

    # --- one size, per part -----------------------------------------------------------------------

    def volumes(self, size: Size) -> dict[str, float]:
        epb = size.events_per_block or self["events_per_block"]
        blocks = size.chains * SECONDS_MONTH / size.block_seconds
        events = blocks * epb
        deliveries = size.matched_events_month  # one event a delivery: the most deliveries
        return {
            "blocks": blocks,
            "events": events,
            "events_per_block": epb,
            "matches": size.matched_events_month,
            "deliveries": deliveries,
            "attempts": deliveries * self["attempts_per_delivery"],
            "kafka_gb": events * self["kafka_bytes_per_event"] / GB,
            "kafka_mb_s": events * self["kafka_bytes_per_event"] / SECONDS_MONTH / 1e6,
        }

    def kafka_serverless(self, v: dict) -> float:
        stored_gb = v["kafka_mb_s"] * 1e6 * self["kafka_retention_days"] * 86400 / GB
        return (
            HOURS_MONTH * (self["msk_sl_cluster_hour"] + TOPIC_PARTITIONS * self["msk_sl_partition_hour"])
            + v["kafka_gb"] * (self["msk_sl_in_gb"] + self["msk_sl_out_gb"])
            + stored_gb * self["msk_sl_storage_gb_month"]
        )

    def kafka_provisioned(self, v: dict) -> tuple[float, str, int]:
        """(monthly $, broker type, storage GB per broker) of the smallest provisioned cluster that fits."""
        stored_gb = v["kafka_mb_s"] * 1e6 * self["kafka_retention_days"] * 86400 / GB
        storage = max(PROVISIONED_STORAGE_GB, int(math.ceil(stored_gb * STORAGE_HEADROOM / 100) * 100))
        small = v["kafka_mb_s"] <= T3_SMALL_MAX_MB_S
        broker, hourly = ("kafka.t3.small", self["msk_t3_small_hour"]) if small else (
            "kafka.m7g.large", self["msk_m7g_large_hour"])
        # Clients reach brokers in the other AZs for two thirds of the partitions' leaders: produce and consume.
        cross_az = 2 * v["kafka_gb"] * 2 / 3 * self["cross_az_gb"]
        cost = PROVISIONED_BROKERS * (HOURS_MONTH * hourly + storage * self["msk_storage_gb_month"]) + cross_az
        return cost, broker, storage

    def parts(self, size: Size | None) -> dict[str, float]:
        """Monthly $ per part; None: idle (one chain configured, no block, no request)."""
        chains = size.chains if size else 1
        v = self.volumes(size) if size else {k: 0.0 for k in (
            "blocks", "events", "events_per_block", "matches", "deliveries", "attempts", "kafka_gb", "kafka_mb_s")}
        lam = self["lambda_gb_s"]
        req = self["lambda_request"] / 1e6
        ms = self["ddb_latency_ms"] / 1000

        ingest_runs = HOURS_MONTH * 60
        ingest = ingest_runs * (self["ingest_seconds_per_minute"] * 1.0 * lam + req)
        cpu_per_block = (self["matcher_us_per_block"] / self["events_per_block"] * v["events_per_block"]
                         / 1e6 / self["lambda_vcpu_share"])
        matcher_s = (v["blocks"] * (cpu_per_block + self["matcher_ddb_calls_per_block"] * ms)
                     + v["matches"] * self["matcher_ddb_calls_per_match"] * ms
                     + v["deliveries"] * self["matcher_sqs_calls_per_delivery"] * ms)
        matcher = matcher_s * 1.0 * lam + v["blocks"] * req  # a batch per block at live rates
        deliver = v["attempts"] * ((self["receiver_ms"] / 1000 + self["attempt_calls"] * ms) * 0.5 * lam + req)
        api_requests = size.api_requests_month if size else 0
        api_fn = api_requests * (self["api_ms"] / 1000 * 0.5 * lam + req)

        wru = (v["blocks"] * self["ingest_checkpoint_wcu_per_block"]
               + v["matches"] * self["match_wcu"]
               + v["deliveries"] * self["delivery_record_wcu"]
               + v["attempts"] * self["attempt_wcu"]
               + (size.address_adds_month if size else 0) * self["address_add_wcu"])
        rru = (v["blocks"] * self["matcher_ddb_calls_per_block"]
               + v["matches"] * 1
               + v["deliveries"] * self["delivery_record_rcu"]
               + v["attempts"] * self["attempt_rcu"])
        addresses = size.addresses if size else 0
        stored_gb = (addresses * (self["address_item_bytes"] + 2 * self["ddb_item_overhead"])
                     + v["deliveries"] * self["delivered_retention_days"] / 30.4
                     * 3 * (self["delivery_item_bytes"] + self["ddb_item_overhead"])) / GB
        dynamodb = (wru * self["ddb_wru"] + rru * self["ddb_rru"]) / 1e6 + stored_gb * (
            self["ddb_storage_gb_month"] + self["ddb_pitr_gb_month"])

        nat = HOURS_MONTH * self["nat_hour"] + v["events"] * (
            self["rpc_bytes_per_event"] + self["kafka_bytes_per_event"] * self["esm_payload_factor"]) / GB * self["nat_gb"]
        sqs = (self["sqs_idle_requests"] + v["deliveries"] * self["matcher_sqs_calls_per_delivery"]
               + v["attempts"] * 2 + (v["attempts"] - v["deliveries"])) * self["sqs_request"] / 1e6
        kms = self["kms_key_month"] + v["attempts"] * self["kms_per_attempt"] * self["kms_request"] / 1e4
        log_gb = (ingest_runs * self["log_bytes_per_ingest_run"] + v["blocks"] * self["log_bytes_per_block"]
                  + v["attempts"] * self["log_bytes_per_attempt"]) / GB
        cloudwatch = (
            (self["fixed_alarm_metrics"] + chains * self["alarm_metrics_per_chain"]) * self["cw_alarm_metric"]
            + (self["fixed_custom_metrics"] + chains * self["custom_metrics_per_chain"]) * self["cw_metric"]
            + self["cw_dashboard"]
            + log_gb * (self["cw_logs_gb"] + self["cw_logs_storage_gb_month"])
        )
        xray = sum(self._traces(n) for n in (ingest_runs, v["blocks"], v["attempts"], api_requests))
        xray *= self["xray_trace"] / 1e6
        return {
            "Kafka: MSK Serverless": self.kafka_serverless(v),
            "NAT gateway (hours + data)": nat,
            "matcher pollers (1 EPU)": HOURS_MONTH * self["epu_hour"],
            "Lambda ingest": ingest,
            "Lambda matcher": matcher,
            "Lambda deliver": deliver,
            "Lambda api": api_fn,
            "DynamoDB": dynamodb,
            "SQS": sqs,
            "API Gateway": api_requests * self["apigw_request"] / 1e6,
            "KMS": kms,
            "Secrets Manager (RPC URLs)": chains * self["secret_month"],
            "CloudWatch (alarms, metrics, dashboard, logs)": cloudwatch,
            "X-Ray": xray,
            "data out (webhooks)": v["attempts"] * self["delivery_item_bytes"] / GB * self["internet_out_gb"],
        }

    def _traces(self, invocations: float) -> float:
        kept = min(invocations, self["xray_reservoir"] * SECONDS_MONTH)
        return kept + 0.05 * (invocations - kept)

    # --- per unit ---------------------------------------------------------------------------------

    def per_million_events(self) -> dict[str, float]:
        """Marginal $ per million events flowing (mainnet-shaped blocks, no match), per part."""
        epb = self["events_per_block"]
        blocks = 1e6 / epb
        kafka_gb = 1e6 * self["kafka_bytes_per_event"] / GB
        ms = self["ddb_latency_ms"] / 1000
        cpu = self["matcher_us_per_block"] / 1e6 / self["lambda_vcpu_share"]
        return {
            "Kafka: MSK Serverless data in + out": kafka_gb * (self["msk_sl_in_gb"] + self["msk_sl_out_gb"]),
            "Kafka: MSK Serverless storage (retention)": kafka_gb * self["kafka_retention_days"] / 30.4
            * self["msk_sl_storage_gb_month"],
            "NAT data (RPC + the mapping's payloads)": 1e6 * (
                self["rpc_bytes_per_event"] + self["kafka_bytes_per_event"] * self["esm_payload_factor"])
            / GB * self["nat_gb"],
            "Lambda matcher (GB-s + requests)": blocks * (
                (cpu + self["matcher_ddb_calls_per_block"] * ms) * self["lambda_gb_s"] + self["lambda_request"] / 1e6),
            "DynamoDB (checkpoints, matcher reads)": blocks * (
                self["ingest_checkpoint_wcu_per_block"] * self["ddb_wru"]
                + self["matcher_ddb_calls_per_block"] * self["ddb_rru"]) / 1e6,
            "CloudWatch Logs": blocks * self["log_bytes_per_block"] / GB * (
                self["cw_logs_gb"] + self["cw_logs_storage_gb_month"]),
            "X-Ray (a matcher trace a block)": blocks * self["xray_trace"] / 1e6,
        }

    def per_million_deliveries(self) -> dict[str, float]:
        """Marginal $ per million matched events, each its own delivery, per part."""
        n = 1e6
        attempts = n * self["attempts_per_delivery"]
        ms = self["ddb_latency_ms"] / 1000
        return {
            "DynamoDB: match records": n * (self["match_wcu"] * self["ddb_wru"] + self["ddb_rru"]) / 1e6,
            "DynamoDB: delivery records": n * (self["delivery_record_wcu"] * self["ddb_wru"]
                                               + self["delivery_record_rcu"] * self["ddb_rru"]) / 1e6,
            "DynamoDB: attempts": attempts * (self["attempt_wcu"] * self["ddb_wru"]
                                              + self["attempt_rcu"] * self["ddb_rru"]) / 1e6,
            "Lambda matcher (its calls per match)": n * (self["matcher_ddb_calls_per_match"]
                                                         + self["matcher_sqs_calls_per_delivery"]) * ms
            * self["lambda_gb_s"],
            "Lambda deliver": attempts * ((self["receiver_ms"] / 1000 + self["attempt_calls"] * ms) * 0.5
                                          * self["lambda_gb_s"] + self["lambda_request"] / 1e6),
            "SQS": (n * self["matcher_sqs_calls_per_delivery"] + attempts * 2 + (attempts - n))
            * self["sqs_request"] / 1e6,
            "KMS (decrypts of secrets not yet cached)": attempts * self["kms_per_attempt"] * self["kms_request"] / 1e4,
            "CloudWatch Logs": attempts * self["log_bytes_per_attempt"] / GB * (
                self["cw_logs_gb"] + self["cw_logs_storage_gb_month"]),
            "X-Ray (a deliver trace an attempt)": attempts * self["xray_trace"] / 1e6,
            "data out (webhook bodies)": attempts * self["delivery_item_bytes"] / GB * self["internet_out_gb"],
        }

    def per_million_addresses(self) -> dict[str, float]:
        bytes_ = self["address_item_bytes"] + 2 * self["ddb_item_overhead"]
        return {
            "DynamoDB writes, once": 1e6 * self["address_add_wcu"] * self["ddb_wru"] / 1e6,
            "DynamoDB storage + point-in-time recovery, a month": 1e6 * bytes_ / GB * (
                self["ddb_storage_gb_month"] + self["ddb_pitr_gb_month"]),
        }


# --- rendering ----------------------------------------------------------------------------------------

def _money(value: float) -> str:
    if value == 0:
        return "0"
    if value < 0.01:
        return f"${value:.4f}"
    if value < 100:
        return f"${value:,.2f}"
    return f"${value:,.0f}"


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.10g}" if value < 1 else f"{value:,.4g}" if value < 100 else f"{value:,.1f}"


def _ran_at(source: str) -> str:
    """The date of the benchmark run a measured figure comes from (its file's `ran_at`)."""
    return str(_field(source.split(":")[0], "ran_at"))[:10]


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render(model: Model | None = None) -> dict[str, str]:
    model = model or Model()
    blocks: dict[str, str] = {}
    blocks["prices"] = _table(["price", "key", "value", "unit"],
                              [[p.what, f"`{p.key}`", _number(p.value), p.unit] for p in PRICES])
    blocks["measured"] = _table(
        ["measured", "key", "value", "unit", "source (bench/results/)", "run"],
        [[m.what, f"`{m.key}`", _number(m.value), m.unit, m.source, _ran_at(m.source)] for m in measured()])
    blocks["estimates"] = _table(["estimated", "key", "value", "unit", "why"],
                                 [[e.what, f"`{e.key}`", _number(e.value), e.unit, e.source] for e in ESTIMATES])

    ms = model["ddb_latency_ms"] / 1000
    matcher_gb_s_block = (model["matcher_us_per_block"] / 1e6 / model["lambda_vcpu_share"]
                          + model["matcher_ddb_calls_per_block"] * ms) * 1.0
    blocks["units"] = _table(
        ["quantity", "value"],
        [
            ["matcher Lambda GB-s per block (1,024 MB)", f"{matcher_gb_s_block:.4f}"],
            ["matcher Lambda GB-s per million events", f"{matcher_gb_s_block * 1e6 / model['events_per_block']:.1f}"],
            ["matcher Lambda GB-s per matched event", f"{(model['matcher_ddb_calls_per_match'] + model['matcher_sqs_calls_per_delivery']) * ms:.3f}"],
            ["ingest Lambda GB-s a month (always running, any number of chains)",
             f"{HOURS_MONTH * 60 * model['ingest_seconds_per_minute']:,.0f}"],
            ["ingest CPU per million events (of one vCPU)", f"{model['ingest_us_per_event']:.1f} s"],
            ["deliver Lambda GB-s per attempt (512 MB)",
             f"{(model['receiver_ms'] / 1000 + model['attempt_calls'] * ms) * 0.5:.3f}"],
            ["DynamoDB per block", f"{model['ingest_checkpoint_wcu_per_block']:g} WRU + {model['matcher_ddb_calls_per_block']:g} RRU"],
            ["DynamoDB per matched event", f"{model['match_wcu']:g} WRU + 1 RRU"],
            ["DynamoDB per delivery (recorded, numbered)", f"{model['delivery_record_wcu']:g} WRU + {model['delivery_record_rcu']:g} RRU"],
            ["DynamoDB per delivery attempt", f"{model['attempt_wcu']:g} WRU + {model['attempt_rcu']:g} RRU"],
            ["DynamoDB per address added", f"{model['address_add_wcu']:g} WRU"],
            ["Kafka bytes per event (in, and again out)", f"{model['kafka_bytes_per_event']:g}"],
            ["NAT bytes per event (RPC + the mapping's payload)",
             f"{model['rpc_bytes_per_event'] + model['kafka_bytes_per_event'] * model['esm_payload_factor']:,.0f}"],
            ["SQS requests per delivery", f"{model['matcher_sqs_calls_per_delivery'] + 2 * model['attempts_per_delivery'] + model['attempts_per_delivery'] - 1:.2f}"],
        ],
    )

    idle = model.parts(None)
    blocks["idle"] = _table(["part", "a month at idle"],
                            [[k, _money(v)] for k, v in idle.items() if v] + [["**total**", f"**{_money(sum(idle.values()))}**"]])
    per_events = model.per_million_events()
    blocks["per_million_events"] = _table(
        ["part", "per million events"],
        [[k, _money(v)] for k, v in per_events.items()] + [["**total**", f"**{_money(sum(per_events.values()))}**"]])
    per_deliveries = model.per_million_deliveries()
    blocks["per_million_deliveries"] = _table(
        ["part", "per million matched events (one delivery each)"],
        [[k, _money(v)] for k, v in per_deliveries.items()]
        + [["**total**", f"**{_money(sum(per_deliveries.values()))}**"]])
    per_addresses = model.per_million_addresses()
    blocks["per_million_addresses"] = _table(["part", "per million addresses"],
                                             [[k, _money(v)] for k, v in per_addresses.items()])

    volumes = {s.key: model.volumes(s) for s in SIZES}
    blocks["sizes"] = _table(
        ["", *(s.title for s in SIZES)],
        [
            ["chains x block time", *(f"{s.chains} x {s.block_seconds:g} s" for s in SIZES)],
            ["blocks a month", *(f"{volumes[s.key]['blocks']:,.0f}" for s in SIZES)],
            ["events a month", *(f"{volumes[s.key]['events'] / 1e6:,.0f} million" for s in SIZES)],
            ["Kafka data in", *(f"{volumes[s.key]['kafka_mb_s']:.2f} MB/s" for s in SIZES)],
            ["watched addresses", *(f"{s.addresses:,}" for s in SIZES)],
            ["matched events = deliveries a month", *(f"{s.matched_events_month:,.0f}" for s in SIZES)],
            ["match rate", *(f"{s.matched_events_month / volumes[s.key]['events']:.4%}" for s in SIZES)],
            ["addresses added a month", *(f"{s.address_adds_month:,.0f}" for s in SIZES)],
            ["API requests a month", *(f"{s.api_requests_month:,.0f}" for s in SIZES)],
            ["ingest CPU (of its 1,024 MB Lambda)", *(
                f"{volumes[s.key]['events'] / SECONDS_MONTH * model['ingest_us_per_event'] / 1e6 / model['lambda_vcpu_share']:.1%}"
                for s in SIZES)],
        ],
    )
    parts = {s.key: model.parts(s) for s in SIZES}
    names = list(parts[SIZES[0].key])
    provisioned = {s.key: model.kafka_provisioned(volumes[s.key]) for s in SIZES}
    totals = {k: sum(p.values()) for k, p in parts.items()}
    rows = [[name, *(_money(parts[s.key][name]) for s in SIZES)] for name in names]
    rows.append(["**total, MSK Serverless**", *(f"**{_money(totals[s.key])}**" for s in SIZES)])
    rows.append(["Kafka: MSK provisioned instead", *(
        f"{_money(provisioned[s.key][0])} (3 x {provisioned[s.key][1]}, {provisioned[s.key][2]:,} GB each)"
        for s in SIZES)])
    rows.append(["**total, MSK provisioned**", *(
        f"**{_money(totals[s.key] - parts[s.key]['Kafka: MSK Serverless'] + provisioned[s.key][0])}**"
        for s in SIZES)])
    blocks["size_costs"] = _table(["a month", *(s.title for s in SIZES)], rows)

    serverless_totals = " / ".join(_money(totals[s.key]) for s in SIZES)
    provisioned_totals = " / ".join(
        _money(totals[s.key] - parts[s.key]["Kafka: MSK Serverless"] + provisioned[s.key][0]) for s in SIZES)
    idle_total = sum(idle.values())
    blocks["summary"] = (
        f"A deployment costs about **{_money(idle_total)} a month doing nothing**, "
        f"{idle['Kafka: MSK Serverless'] / idle_total:.0%} of it the MSK Serverless cluster, then the matcher's "
        "provisioned pollers, ingest's always-running Lambda and the NAT gateway. Traffic adds little: "
        f"{_money(sum(per_events.values()))} per million events flowing through and "
        f"{_money(sum(per_deliveries.values()))} per million matched events delivered. The three sizes below "
        f"({'; '.join(s.title for s in SIZES)}) come to {serverless_totals} a month on MSK Serverless; with a "
        f"provisioned MSK cluster instead (`-c kafka=provisioned`) to {provisioned_totals}."
    )

    idle_provisioned = model.kafka_provisioned(model.volumes(Size("", "", 1, 1e12, None, 0, 0, 0, 0, "")))
    blocks["kafka_idle"] = _table(
        ["Kafka at idle", "a month"],
        [["MSK Serverless: cluster-hours + 3 partitions", _money(idle["Kafka: MSK Serverless"])],
         [f"MSK provisioned: 3 x {idle_provisioned[1]}, {idle_provisioned[2]} GB each", _money(idle_provisioned[0])]])
    return blocks


MARKER = re.compile(r"<!-- costs\.py: (?P<name>[a-z_]+) -->\n(?P<body>.*?)\n<!-- /costs\.py -->", re.S)


def doc_blocks(text: str) -> dict[str, str]:
    return {m["name"]: m["body"] for m in MARKER.finditer(text)}


def rewrite(text: str, blocks: dict[str, str]) -> str:
    def replace(m: re.Match) -> str:
        if m["name"] not in blocks:
            raise KeyError(f"no table {m['name']!r} in bench/costs.py")
        return f"<!-- costs.py: {m['name']} -->\n{blocks[m['name']]}\n<!-- /costs.py -->"

    return MARKER.sub(replace, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", type=Path, help="rewrite the generated tables of this markdown file")
    args = parser.parse_args(argv)
    blocks = render()
    if args.write:
        args.write.write_text(rewrite(args.write.read_text(), blocks))
        return 0
    for name, body in blocks.items():
        print(f"<!-- costs.py: {name} -->\n{body}\n<!-- /costs.py -->\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
