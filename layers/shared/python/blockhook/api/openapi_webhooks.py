"""What the OpenAPI document tells beyond the routes: the webhook a monitor's endpoint receives
(OpenAPI 3.1 `webhooks`: body and headers), and an example of every request and answer.

The event schemas are generated from chain/kinds.py, the webhook's example body is made by the
delivery code itself (delivery/payload.py) from the kinds' sample events, and its example headers
are real signatures of that body (delivery/signing.py). The other examples are written here;
tests check each one against its schema and send each request example to the API.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

from blockhook.api.limits import MAX_BODY_BYTES
from blockhook.api.models import MAX_ADDRESSES_PER_MONITOR
from blockhook.chain import kinds
from blockhook.delivery.payload import (
    BLOCK_FIELDS,
    DELIVERY_ID_PREFIX,
    MAX_EVENTS_PER_DELIVERY,
    build_payloads,
    delivery_id,
    encode_body,
    numbered,
)
from blockhook.delivery.service import TEST_DELIVERY_PREFIX, WEBHOOK_TIMEOUT_SECONDS, build_test_payload
from blockhook.delivery.signing import (
    DELIVERY_ID_HEADER,
    SIGNATURE_HEADER,
    STANDARD_ID_HEADER,
    STANDARD_SIGNATURE_HEADER,
    STANDARD_TIMESTAMP_HEADER,
    USER_AGENT,
    webhook_headers,
)

REF = "#/components/schemas/"
JSON = "application/json"

# --- the webhook -------------------------------------------------------------------------------

MONITOR_ID_SCHEMA = {"type": "string", "pattern": "^mon_[0-9a-f]{24}$", "description": "The monitor's id"}
DELIVERY_ID_SCHEMA = {
    "type": "string",
    "pattern": f"^{DELIVERY_ID_PREFIX}[0-9a-f]{{32}}$",
    "description": "The delivery's id: the same on every attempt and replay of the delivery",
}
TEST_DELIVERY_ID_SCHEMA = {
    "type": "string",
    "pattern": f"^{TEST_DELIVERY_PREFIX}[0-9a-f]{{24}}$",
    "description": "A test delivery's id, new for each test",
}
_BLOCK_FIELD_TYPES = {
    "number": (kinds.INTEGER, "The block's number"),
    "hash": (kinds.HASH, "The block's hash"),
    "parent_hash": (kinds.HASH, "Its parent's hash"),
    "timestamp": (kinds.INTEGER, "The block's timestamp, unix seconds"),
}
EXAMPLE_MONITOR_ID = "mon_91157c162549adbbbd03a60e"
HOT_WALLET = "0x28c6c06298d514db089934071355e5743bf21d60"
CUSTOMER = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
CUSTOMER_CHECKSUMMED = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
OLD_WALLET = "0x21a31ee1afc51d94c2efccaa2092ad1028285549"
TOKEN = "0xdac17f958d2ee523a2206206994597c13d831ec7"
WEBHOOK_URL = "https://example.com/hooks/blockhook"
SENDER = "0x4838b106fce9647bdf1e7877bf73ce8b0bad5f97"
BLOCK_NUMBER = 21000000
BLOCK_HASH = "0x" + "7715a3e8" * 8
PARENT_HASH = "0x" + "d5982c41" * 8
CREATED_AT = 1730000000
EVENT_ID = f"1:{BLOCK_HASH}:5:12:erc20_transfer"
# Example signing secret: the example headers are the real signatures of the example body with it.
EXAMPLE_SECRET = "whsec_" + "5e" * 24
EXAMPLE_TIMESTAMP = 1730000150


def _schema_name(kind: kinds.Kind) -> str:
    return "".join(part.capitalize() for part in kind.name.split("_")) + "Event"


def webhook_schemas() -> dict[str, dict[str, Any]]:
    """The components the webhook bodies refer to: the deliveries, their block, each kind's events."""
    block = {
        "type": "object",
        "description": "The block whose events the delivery holds",
        "properties": {
            name: kinds.Field(name, *_BLOCK_FIELD_TYPES[name]).json_schema() for name in BLOCK_FIELDS
        },
        "required": list(BLOCK_FIELDS),
    }
    events = {_schema_name(kind): kinds.delivered_event_json_schema(kind) for kind in kinds.KINDS}
    event = {
        "description": "One event, its fields by kind (docs/events.md); with the fields the delivery adds",
        "oneOf": [{"$ref": REF + name} for name in events],
        "discriminator": {
            "propertyName": "kind",
            "mapping": {kind.name: REF + _schema_name(kind) for kind in kinds.KINDS},
        },
    }
    delivery = {
        "type": "object",
        "description": (
            f"One monitor's events of one block, in chain order, at most {MAX_EVENTS_PER_DELIVERY} (more are"
            " split over several deliveries). At least once: dedupe by `id`, or by event id together with"
            " `removed`. The last delivery of an event id tells its current state"
        ),
        "properties": {
            "id": dict(DELIVERY_ID_SCHEMA),
            "monitor_id": dict(MONITOR_ID_SCHEMA),
            "chain_id": {"type": "integer", "description": "The chain's id"},
            "sequence": {
                "type": "integer",
                "minimum": 1,
                "description": "Numbers the monitor's deliveries on this chain 1, 2, 3, ... with no gaps, in the"
                " order they were created; a retry or replay keeps its number",
            },
            "block": {"$ref": REF + "WebhookBlock"},
            "removed": {
                "type": "boolean",
                "description": "true: a reorganisation replaced the block, and these events (the ids sent"
                " before) are no longer on the chain",
            },
            "events": {"type": "array", "maxItems": MAX_EVENTS_PER_DELIVERY, "items": {"$ref": REF + "WebhookEvent"}},
        },
        "required": ["id", "monitor_id", "chain_id", "sequence", "block", "removed", "events"],
    }
    test = {
        "type": "object",
        "description": "Sent by POST /v1/monitors/{monitor_id}/test: shaped like a delivery, with no events and no"
        " sequence; it is not a delivery of the chain and is never recorded or retried",
        "properties": {
            "id": dict(TEST_DELIVERY_ID_SCHEMA),
            "monitor_id": dict(MONITOR_ID_SCHEMA),
            "chain_id": {"type": "integer", "description": "The monitor's first chain"},
            "block": {"$ref": REF + "WebhookBlock"},
            "removed": {"const": False},
            "events": {"type": "array", "maxItems": 0},
            "test": {"const": True},
        },
        "required": ["id", "monitor_id", "chain_id", "block", "removed", "events", "test"],
    }
    return {
        "WebhookDelivery": delivery,
        "WebhookTestDelivery": test,
        "WebhookBlock": block,
        "WebhookEvent": event,
        **events,
    }


def webhook_header_schemas(id_schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each header a webhook POST carries beside Content-Type (the request body's media type)."""
    return {
        DELIVERY_ID_HEADER: {**id_schema, "description": "The delivery's id (as in the body)"},
        SIGNATURE_HEADER: {
            "type": "string",
            "pattern": "^t=[0-9]+(,v1=[0-9a-f]{64})+$",
            "description": "`t=<unix seconds>,v1=<hex>`: HMAC-SHA256 with the monitor's secret over"
            " `<t>.<raw body bytes>`, lowercase hex. For 24 hours after a secret rotation a second `v1=` signs"
            " with the old secret. Refuse a stale `t` to stop replays",
        },
        STANDARD_ID_HEADER: {**id_schema, "description": "Standard Webhooks: the delivery's id"},
        STANDARD_TIMESTAMP_HEADER: {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "Standard Webhooks: unix seconds of the attempt",
        },
        STANDARD_SIGNATURE_HEADER: {
            "type": "string",
            "pattern": "^v1,[A-Za-z0-9+/]{43}=( v1,[A-Za-z0-9+/]{43}=)*$",
            "description": "Standard Webhooks: `v1,<base64>` per secret, space-separated (two during a"
            " rotation): HMAC-SHA256 over `<webhook-id>.<webhook-timestamp>.<raw body bytes>` keyed by the"
            " bytes the monitor's `whsec_<base64>` secret stands for; any Standard Webhooks library verifies it",
        },
        "User-Agent": {
            "type": "string",
            "pattern": f"^{USER_AGENT.partition('/')[0]}/",
            "description": "blockhook and its version",
        },
    }


def _example_event(name: str, **fields: Any) -> dict[str, Any]:
    """The kind's sample event with these fields, its id as the kind makes it, matched on CUSTOMER."""
    common = {"chain_id": 1, "block_number": BLOCK_NUMBER, "block_hash": BLOCK_HASH, "block_timestamp": CREATED_AT}
    event = kinds.BY_NAME[name].sample(**common, **fields)
    event["id"] = kinds.ID_FORMATS[name].format(**event)
    return {**event, "matched_addresses": [CUSTOMER], "labels": {CUSTOMER: "customer-42"}}


def example_delivery() -> dict[str, Any]:
    """A delivery of two deposits to a labelled address, made by the delivery code."""
    events = [
        _example_event("native_transfer", tx_hash="0x" + "3c" * 32, tx_index=4, to=CUSTOMER, value="1500000000000000000",
                       **{"from": SENDER}),
        _example_event("erc20_transfer", tx_hash="0x" + "9d" * 32, tx_index=5, log_index=12, token=TOKEN, to=CUSTOMER,
                       value="2500000000", **{"from": SENDER}),
    ]  # fmt: skip
    block = {"number": BLOCK_NUMBER, "hash": BLOCK_HASH, "parent_hash": PARENT_HASH, "timestamp": CREATED_AT}
    (payload,) = build_payloads(EXAMPLE_MONITOR_ID, 1, block, events, removed=False)
    return numbered(payload, 1042)


def example_test_delivery() -> dict[str, Any]:
    monitor = SimpleNamespace(monitor_id=EXAMPLE_MONITOR_ID, chain_ids=[1])
    return build_test_payload(monitor, TEST_DELIVERY_PREFIX + "8f14e45fceea167a5a36dedd", EXAMPLE_TIMESTAMP)


def _webhook(
    summary: str, description: str, schema: str, id_schema: dict[str, Any], example: str, body: dict[str, Any]
) -> dict[str, Any]:
    headers = webhook_headers(body["id"], [EXAMPLE_SECRET], encode_body(body), EXAMPLE_TIMESTAMP)
    parameters = [
        {"name": name, "in": "header", "required": True, "schema": header, "example": headers[name]}
        for name, header in webhook_header_schemas(id_schema).items()
    ]
    for parameter in parameters:
        parameter["description"] = parameter["schema"].pop("description")
    return {
        "post": {
            "summary": summary,
            "description": description
            + f" The example headers sign the example body with the secret `{EXAMPLE_SECRET}`.",
            "parameters": parameters,
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": {"$ref": REF + schema}, "examples": {example: {"value": body}}}},
            },
            "responses": {
                "2XX": {"description": "Any 2xx: delivered"},
                "default": {
                    "description": f"Anything else, or no answer within {WEBHOOK_TIMEOUT_SECONDS:g} s: retried with"
                    " exponential backoff and jitter for at least 24 hours, then the delivery is `failed` (and"
                    " stays replayable). Redirects are not followed"
                },
            },
        }
    }


def webhooks() -> dict[str, Any]:
    return {
        "delivery": _webhook(
            "A monitor's events of one block",
            "POSTed to the monitor's `webhook_url`, signed with its secret.",
            "WebhookDelivery",
            DELIVERY_ID_SCHEMA,
            "deposits",
            example_delivery(),
        ),
        "testDelivery": _webhook(
            "A test delivery",
            "POSTed to the monitor's `webhook_url` by POST /v1/monitors/{monitor_id}/test, signed like any"
            " delivery; the API answers with the endpoint's status code.",
            "WebhookTestDelivery",
            TEST_DELIVERY_ID_SCHEMA,
            "test",
            example_test_delivery(),
        ),
    }


# --- examples of the API's requests and answers --------------------------------------------------

REQUEST_EXAMPLES: dict[str, dict[str, dict[str, Any]]] = {
    "MonitorCreate": {
        "addresses": {
            "summary": "Deposits to labelled addresses, 1 ETH or more, after 12 confirmations",
            "value": {
                "name": "exchange hot wallets",
                "chain_ids": [1],
                "webhook_url": WEBHOOK_URL,
                "filters": {
                    "kinds": ["native_transfer", "erc20_transfer"],
                    "addresses": [HOT_WALLET, {"address": CUSTOMER_CHECKSUMMED, "label": "customer-42"}],
                },
                "condition": "event.value >= 1000000000000000000",
                "confirmations": 12,
                "active": True,
            },
        },
        "token": {
            "summary": "Every transfer of one token, once finalized",
            "value": {
                "name": "USDT transfers",
                "chain_ids": [1],
                "webhook_url": WEBHOOK_URL,
                "filters": {"kinds": ["erc20_transfer"], "contracts": [TOKEN]},
                "confirmations": "finalized",
            },
        },
        "logs": {
            "summary": "Decoded logs of one event signature",
            "value": {
                "name": "token approvals",
                "chain_ids": [1],
                "webhook_url": WEBHOOK_URL,
                "filters": {
                    "kinds": ["log"],
                    "addresses": [HOT_WALLET],
                    "event_signatures": [
                        "Approval(address indexed owner, address indexed spender, uint256 value)"
                    ],
                },
            },
        },
    },
    "MonitorPatch": {
        "endpoint": {
            "summary": "A new endpoint and condition",
            "value": {"webhook_url": "https://example.com/hooks/blockhook-v2", "condition": None},
        },
        "pause": {"summary": "Pause the monitor", "value": {"active": False}},
        "confirmations": {"summary": "Wait for finality", "value": {"confirmations": "finalized"}},
        "replace addresses": {
            "summary": "Watch exactly these addresses",
            "value": {"filters": {"addresses": [{"address": CUSTOMER, "label": "customer-42"}]}},
        },
        "every party": {
            "summary": "Watch every party (of the kinds and contracts filtered)",
            "value": {"filters": {"addresses": None}},
        },
    },
    "AddressChange": {
        "labelled": {
            "summary": "Add addresses, one with a label, and remove one (one change)",
            "value": {
                "add": [HOT_WALLET, {"address": CUSTOMER_CHECKSUMMED, "label": "customer-42"}],
                "remove": [OLD_WALLET],
            },
        },
    },
    "BackfillRequest": {
        "range": {
            "summary": "Blocks 21,000,000 to 21,000,100 of Ethereum",
            "value": {"from_block": 21000000, "to_block": 21000100, "chain_id": 1},
        },
    },
    "BulkReplayRequest": {
        "failed": {
            "summary": "Send again what failed since a time",
            "value": {"status": "failed", "since": CREATED_AT, "until": None},
        },
        "range": {
            "summary": "Send again what was delivered in one hour",
            "value": {"status": "delivered", "since": CREATED_AT, "until": CREATED_AT + 3599},
        },
    },
    "ReconcileRequest": {
        "check": {
            "summary": "Compare the deliveries of a range with the chain",
            "value": {"from_block": 21000000, "to_block": 21000100, "heal": False, "chain_id": 1},
        },
        "heal": {
            "summary": "Compare, and send what is missing",
            "value": {"from_block": 21000000, "to_block": 21000100, "heal": True, "chain_id": 1},
        },
    },
}

_MONITOR = {
    "id": EXAMPLE_MONITOR_ID,
    "name": "exchange hot wallets",
    "chain_ids": [1],
    "webhook_url": WEBHOOK_URL,
    "filters": {
        "address_scope": "list",
        "kinds": ["native_transfer", "erc20_transfer"],
        "contracts": [],
        "event_signatures": [],
    },
    "address_count": 2,
    "condition": "event.value >= 1000000000000000000",
    "confirmations": 12,
    "active": True,
    "created_at": CREATED_AT,
    "updated_at": CREATED_AT,
    "backfill": None,
    "reconcile": None,
    "health": {
        "status": "healthy",
        "consecutive_failures": 0,
        "failing_since": None,
        "last_failure": None,
        "next_probe_at": None,
    },
    "last_delivery": None,
}
_BACKFILL = {
    "id": "bf_3f6c0a1e9b2d4c57",
    "chain_id": 1,
    "from_block": 21000000,
    "to_block": 21000100,
    "next_block": 21000000,
    "status": "queued",
    "error": None,
    "created_at": CREATED_AT + 600,
    "updated_at": CREATED_AT + 600,
}
_RECONCILE = {
    "id": "rc_9a41d7c02be85f13",
    "chain_id": 1,
    "from_block": 21000000,
    "to_block": 21000100,
    "heal": False,
    "next_block": 21000000,
    "checked_through": 20999999,
    "status": "queued",
    "error": None,
    "missing_count": 0,
    "extra_count": 0,
    "created_at": CREATED_AT + 900,
    "updated_at": CREATED_AT + 900,
    "missing": [],
    "extra": [],
}
_DELIVERY = {
    "id": delivery_id(EXAMPLE_MONITOR_ID, BLOCK_HASH, False, 0),  # the webhook example's
    "status": "delivered",
    "retrying": False,
    "chain_id": 1,
    "sequence": 1042,
    "block_number": 21000000,
    "block_hash": BLOCK_HASH,
    "removed": False,
    "event_count": 2,
    "attempts": 1,
    "last_status_code": 200,
    "last_error": None,
    "last_latency_ms": 84,
    "next_attempt_at": None,
    "created_at": CREATED_AT + 150,
    "last_attempt_at": CREATED_AT + 150,
    "origin": "live",
}
_RETRYING = {
    **_DELIVERY,
    "id": "dlv_c4ca4238a0b923820dcc509a6f75849b",
    "status": "pending",
    "retrying": True,
    "sequence": 1043,
    "block_number": 21000001,
    "block_hash": "0x" + "e41f09b7" * 8,
    "event_count": 1,
    "attempts": 2,
    "last_status_code": 503,
    "last_error": "HTTP 503",
    "last_latency_ms": 212,
    "next_attempt_at": CREATED_AT + 232,
    "created_at": CREATED_AT + 162,
    "last_attempt_at": CREATED_AT + 172,
}


def _delivery_detail() -> dict[str, Any]:
    """The webhook example as its delivery log shows it: the body as posted, its headers, one attempt."""
    body = example_delivery()
    raw = encode_body(body)
    return {
        **_DELIVERY,
        "body": raw.decode(),
        "headers": webhook_headers(body["id"], [EXAMPLE_SECRET], raw, EXAMPLE_TIMESTAMP),
        "attempt_log": [{"at": CREATED_AT + 150, "status_code": 200, "error": None, "duration_ms": 84, "response": "ok"}],
    }


_LAST_DELIVERY = {
    "id": _RETRYING["id"],
    "status": "pending",
    "created_at": _RETRYING["created_at"],
    "last_status_code": _RETRYING["last_status_code"],
}


def _stats() -> dict[str, Any]:
    """Three hours of a monitor: one quiet, one with a failing endpoint, one delivering."""
    first = CREATED_AT - CREATED_AT % 3600
    zero = {"delivered": 0, "failed": 0, "attempts": 0, "failed_attempts": 0, "latency_ms": None}
    return {
        "monitor_id": EXAMPLE_MONITOR_ID,
        "hours": [
            {"hour": first, **zero},
            {"hour": first + 3600, **zero, "failed": 1, "attempts": 6, "failed_attempts": 6},
            {"hour": first + 7200, "delivered": 3, "failed": 0, "attempts": 4, "failed_attempts": 1,
             "latency_ms": {"p50": 114, "p90": 577, "p99": 577}},
        ],  # fmt: skip
        "latency_ms": {"p50": 114, "p90": 577, "p99": 577, "count": 3},
    }


_CURSOR = "eyJtb25pdG9yX2lkIjp7IlMiOiJtb25fOTExNTdjMTYyNTQ5YWRiYmJkMDNhNjBlIn19"

RESPONSE_EXAMPLES: dict[str, dict[str, dict[str, Any]]] = {
    "Health": {"ready": {"value": {"status": "ok"}}},
    "MonitorOut": {"monitor": {"value": _MONITOR}},
    "MonitorWithSecret": {
        "monitor": {"value": {**_MONITOR, "secret": "whsec_" + "0f3a9c71d2b84e65" * 3}},
    },
    "MonitorWithRotatedSecret": {
        "rotated": {
            "value": {
                **_MONITOR,
                "secret": "whsec_" + "8b2e4d6f1a3c5e70" * 3,
                "previous_secret_expires_at": CREATED_AT + 2000 + 86400,
            }
        },
    },
    "MonitorDetail": {
        "monitor": {
            "value": {
                **_MONITOR,
                "backfill": {**_BACKFILL, "next_block": 21000040, "status": "running", "updated_at": CREATED_AT + 630},
                "chains": [{"chain_id": 1, "matched_through_block": 21000108, "last_sequence": 1043}],
                "last_delivery": _LAST_DELIVERY,
            }
        },
    },
    "MonitorPage": {
        "page": {"value": {"items": [{**_MONITOR, "last_delivery": _LAST_DELIVERY}], "next_cursor": _CURSOR}}
    },
    "AddressChangeResult": {"changed": {"value": {"added": 2, "removed": 1, "address_count": 3}}},
    "AddressPage": {
        "page": {
            "value": {
                "items": [{"address": HOT_WALLET, "label": None}, {"address": CUSTOMER, "label": "customer-42"}],
                "next_cursor": None,
            }
        },
    },
    "BackfillOut": {"queued": {"value": _BACKFILL}},
    "ReconcileOut": {
        "queued": {"summary": "Just started", "value": _RECONCILE},
        "done": {
            "summary": "Done: one event never delivered",
            "value": {
                **_RECONCILE,
                "next_block": 21000101,
                "checked_through": 21000100,
                "status": "done",
                "missing_count": 1,
                "missing": [EVENT_ID],
                "updated_at": CREATED_AT + 960,
            },
        },
    },
    "ChainList": {
        "chains": {
            "value": {
                "items": [
                    {
                        "chain_id": 1,
                        "head": 21000120,
                        "last_processed": 21000118,
                        "lag_blocks": 2,
                        "traces": True,
                        "safe": 21000088,
                        "finalized": 21000056,
                        "status": "live",
                        "head_moved_at": CREATED_AT + 1440,
                    }
                ]
            }
        },
    },
    "MonitorStats": {"window": {"value": _stats()}},
    "BulkReplayResult": {
        "replayed": {
            "summary": "Two replayed, none left",
            "value": {"replayed": 2, "delivery_ids": [_RETRYING["id"], _DELIVERY["id"]], "more": False},
        },
    },
    "DeliveryPage": {"page": {"value": {"items": [_RETRYING, _DELIVERY], "next_cursor": None}}},
    "DeliveryDetail": {"delivered": {"value": _delivery_detail()}},
    "DeliveryOut": {
        "replayed": {
            "summary": "Pending again; its attempts are kept as history",
            "value": {**_RETRYING, "retrying": False, "next_attempt_at": None},
        },
    },
    "WebhookTestResult": {
        "answered": {
            "value": {
                "status_code": 200,
                "ok": True,
                "error": None,
                "latency_ms": 84,
                "delivery_id": TEST_DELIVERY_PREFIX + "8f14e45fceea167a5a36dedd",
            }
        },
        "no answer": {
            "value": {
                "status_code": None,
                "ok": False,
                "error": "timed out after 10 s",
                "latency_ms": 10003,
                "delivery_id": TEST_DELIVERY_PREFIX + "c9f0f895fb98ab9159f51fd0",
            }
        },
    },
}


def _error(code: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    return {"value": {"error": {"code": code, "message": message, "details": details or []}}}


ERROR_EXAMPLES: dict[str, dict[str, dict[str, Any]]] = {
    "400": {"invalid_json": _error("invalid_json", "request body is not valid JSON")},
    "401": {"unauthorized": _error("unauthorized", "missing x-api-key header")},
    "404": {"not_found": _error("not_found", f"no monitor {EXAMPLE_MONITOR_ID}")},
    "409": {
        "address_limit": _error("address_limit", f"a monitor holds at most {MAX_ADDRESSES_PER_MONITOR} addresses")
    },
    "413": {"payload_too_large": _error("payload_too_large", f"request body over {MAX_BODY_BYTES} bytes")},
    "422": {
        "validation_failed": _error(
            "validation_failed",
            "webhook_url: is required",
            [{"field": "webhook_url", "in": "body", "message": "is required"}],
        )
    },
    "429": {
        "rate_limited": _error(
            "rate_limited",
            "over 50 requests a second (bursts of 100) for this API key",
            [{"retry_after_seconds": 1}],
        )
    },
    "500": {"internal_error": _error("internal_error", "internal error")},
    "503": {
        "unavailable": _error("unavailable", "a storage or key service is busy or unreachable; retry shortly")
    },
}


def _schema_ref(media: dict[str, Any]) -> str | None:
    ref = media.get("schema", {}).get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref.startswith(REF) else None


def _openapi_example(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    health = document["paths"]["/v1/health"]
    return {
        "document": {
            "summary": "This document (shortened)",
            "value": {
                "openapi": document["openapi"],
                "info": copy.deepcopy(document["info"]),
                "paths": {"/v1/health": {"get": {"summary": health["get"]["summary"]}}},
            },
        }
    }


def add_examples(document: dict[str, Any]) -> None:
    """Examples on every request body, success answer and error answer that has a body."""
    for path, operations in document["paths"].items():
        for operation in operations.values():
            body = operation.get("requestBody", {}).get("content", {}).get(JSON)
            if body is not None and _schema_ref(body) in REQUEST_EXAMPLES:
                body["examples"] = copy.deepcopy(REQUEST_EXAMPLES[_schema_ref(body)])
            for status, response in operation.get("responses", {}).items():
                media = (response.get("content") or {}).get(JSON)
                if media is None:
                    continue
                if status in ERROR_EXAMPLES:
                    # Several answers share one content object: each gets its own, referring to the shared examples.
                    examples = {name: {"$ref": "#/components/examples/" + name} for name in ERROR_EXAMPLES[status]}
                    response["content"] = {JSON: {**media, "examples": examples}}
                elif _schema_ref(media) in RESPONSE_EXAMPLES:
                    media["examples"] = copy.deepcopy(RESPONSE_EXAMPLES[_schema_ref(media)])
                elif path == "/v1/openapi.json":
                    media["examples"] = _openapi_example(document)


def add_webhooks_and_examples(document: dict[str, Any]) -> None:
    """The `webhooks` section with the schemas it refers to, and the examples; called by openapi_dict()."""
    components = document.setdefault("components", {})
    components.setdefault("schemas", {}).update(webhook_schemas())
    components["examples"] = {name: example for examples in ERROR_EXAMPLES.values() for name, example in examples.items()}
    document["webhooks"] = webhooks()
    add_examples(document)

