"""API function: API Gateway REST proxy events to the blockhook API.

Logs carry the API Gateway request id as their correlation id, and so do the delivery messages a
request queues (a replay, the backlog sent again when a test or a new URL heals an endpoint): the
deliver function logs those attempts under the request's id.
"""

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from blockhook.api.routes import app
from blockhook.delivery.queue import correlation

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"blockhook"})
# X-Ray (in Lambda with active tracing): the DynamoDB, SQS and KMS calls of a request. The response is
# never captured: a create or a rotation answers with a secret.
tracer = Tracer(patch_modules=("boto3", "botocore"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event, context):
    with correlation(logger.get_correlation_id()):
        return app.resolve(event, context)
