"""blockhook's AWS CDK app: one stack, one construct module per concern.

data            DynamoDB tables
delivery_queue  SQS deliveries queue and its dead-letter queue
streaming       VPC, MSK cluster (Serverless, or provisioned: context kafka), bootstrap-broker lookup
topics          topic `blocks`, created by a Lambda-backed custom resource (infra/topic_provider)
functions       the four Lambda functions, their layers and IAM grants
failed_batches  S3 bucket for the matcher's event source mapping's given-up batches
triggers        schedule (ingest), Kafka (matcher) and SQS (deliver) event sources
api             API Gateway REST API, API key and usage plan, throttling, optional WAF
monitoring      CloudWatch alarms, their SNS topic, and the dashboard
nag             cdk-nag AwsSolutions findings we accept, each with its reason
stack           BlockhookStack, wiring the above together and its outputs
"""
