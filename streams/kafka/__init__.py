"""Kafka: raw records, topics as code, ACLs, consumer lag, and the local broker."""
