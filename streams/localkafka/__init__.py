"""The project's own single-node Kafka broker, assembled from Maven Central jars."""

from streams.localkafka.broker import BrokerState, LocalBroker, wait_until_ready
from streams.localkafka.jars import KAFKA_VERSION

__all__ = ["KAFKA_VERSION", "BrokerState", "LocalBroker", "wait_until_ready"]
