"""The project's own single-node Kafka broker, assembled from Maven Central jars."""

from streams.kafka.local.broker import BrokerState, LocalBroker, wait_until_ready
from streams.kafka.local.jars import KAFKA_VERSION

__all__ = ["KAFKA_VERSION", "BrokerState", "LocalBroker", "wait_until_ready"]
