"""`python -m schemas [directory]`: regenerate the producers' JSON Schemas (schemas/json)."""

import sys

from schemas.jsonschema import main

main(sys.argv[1:])
