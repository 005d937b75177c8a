"""Data subject requests: the agent, who may ask (authorization, signed requests), exports, and
their SQL (access, rectification, erasure)."""
