"""The channel event contract of contactstream: raw models, the normalized ContactEvent, the
messages of the pipeline's own topics, and batch validation that never raises for bad input."""

from schemas.contact import (
    PERSONAL_FIELDS,
    ContactEvent,
    personal_fields,
    personal_values,
    subject_key,
)
from schemas.control import (
    DLQ_HEADER_PREFIX,
    Correction,
    DeadLetter,
    RecordingDeletion,
    SubjectRequest,
    SubjectResult,
    Tombstone,
)
from schemas.email import EmailEvent
from schemas.form import FormEvent
from schemas.jsonschema import TOPIC_MODELS, export_json_schemas
from schemas.limits import DEFAULT_LIMITS, Limits
from schemas.normalize import clear_caches, normalize_email, normalize_phone
from schemas.phone import PhoneCallEvent
from schemas.reasons import PROCESSING_CODES, REJECTION_CODES
from schemas.sms import SmsEvent
from schemas.types import CHANNELS, SCHEMA_VERSION, Channel
from schemas.validate import CHANNEL_MODELS, Rejection, parse_event, parse_events, parse_model

__all__ = [
    "CHANNELS",
    "CHANNEL_MODELS",
    "DEFAULT_LIMITS",
    "DLQ_HEADER_PREFIX",
    "PERSONAL_FIELDS",
    "PROCESSING_CODES",
    "REJECTION_CODES",
    "SCHEMA_VERSION",
    "TOPIC_MODELS",
    "Channel",
    "ContactEvent",
    "Correction",
    "DeadLetter",
    "EmailEvent",
    "FormEvent",
    "Limits",
    "PhoneCallEvent",
    "RecordingDeletion",
    "Rejection",
    "SmsEvent",
    "SubjectRequest",
    "SubjectResult",
    "Tombstone",
    "clear_caches",
    "export_json_schemas",
    "normalize_email",
    "normalize_phone",
    "parse_event",
    "parse_events",
    "parse_model",
    "personal_fields",
    "personal_values",
    "subject_key",
]
