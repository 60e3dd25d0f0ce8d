"""blockhook's AWS CDK app: one stack, one construct module per concern.

data            DynamoDB tables
delivery_queue  SQS deliveries queue and its dead-letter queue
streaming       VPC, MSK Serverless cluster, bootstrap-broker lookup
functions       the four Lambda functions, their layers and IAM grants
triggers        schedule (ingest), Kafka (matcher) and SQS (deliver) event sources
api             API Gateway REST API, API key and usage plan
stack           BlockhookStack, wiring the above together and its outputs
"""
