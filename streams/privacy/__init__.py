"""Forgetting on time: retention finds contacts past due, redaction clears their personal fields
everywhere they live; the SQL of both and the look-ups the other agents make."""
