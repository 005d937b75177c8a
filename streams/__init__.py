"""contactstream: customer-service contacts from Kafka into ClickHouse, with retention built in."""
