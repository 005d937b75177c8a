"""What SREs see: logs (scrubbed, throttled), Prometheus metrics, health endpoints."""
