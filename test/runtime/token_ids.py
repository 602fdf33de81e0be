"""Prints the token ids of `generate --json` output (stdin), one per line."""
import json
import sys

for line in sys.stdin:
    record = json.loads(line)
    if "token_id" in record:
        print(record["token_id"])
