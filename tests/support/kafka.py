"""Reading a test topic back: every record of its one partition, from the beginning."""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition


def topic_records(bootstrap: str, topic: str) -> list:
    """Every record (kafka-python ConsumerRecords) of partition 0 of `topic`, in offset order."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    end = consumer.end_offsets([partition])[partition]
    records = []
    while consumer.position(partition) < end:
        for batch in consumer.poll(timeout_ms=1000).values():
            records.extend(batch)
    consumer.close()
    return records
