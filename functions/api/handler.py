"""API function: API Gateway REST proxy events to the blockhook API."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from blockhook.api.routes import app

logger = Logger()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event, context):
    return app.resolve(event, context)
