"""The REST API as one powertools resolver: `app` (api/resolver.py: middleware
and error answers) with the routes of each route module included, in the order the OpenAPI
document lists them."""

from __future__ import annotations

from blockhook.api import (
    address_routes,
    chain_routes,
    delivery_routes,
    job_routes,
    monitor_routes,
    openapi,
    stats_routes,
)
from blockhook.api.monitor_service import known_chains
from blockhook.api.openapi import openapi_dict, openapi_json
from blockhook.api.resolver import MAX_BODY_BYTES, app, rate_limiter

for _routes in (chain_routes, monitor_routes, address_routes, job_routes, openapi, delivery_routes, stats_routes):
    app.include_router(_routes.router)

__all__ = ["MAX_BODY_BYTES", "app", "known_chains", "openapi_dict", "openapi_json", "rate_limiter"]
