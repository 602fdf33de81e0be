"""Rewrites fields of a JSON file of a checkpoint (config.json, a shard index)
for the binary's tests.

Usage: edit_config.py CONFIG.json KEY=JSON... | -KEY...
KEY may be dotted (early_exit.pre_exit); -KEY deletes the field.
"""
import json
import sys


def main(path, edits):
    with open(path) as f:
        config = json.load(f)
    for edit in edits:
        if edit.startswith("-"):
            *parents, last = edit[1:].split(".")
            value = None
        else:
            key, _, text = edit.partition("=")
            *parents, last = key.split(".")
            value = json.loads(text)
        target = config
        for parent in parents:
            target = target[parent]
        if value is None and edit.startswith("-"):
            del target[last]
        else:
            target[last] = value
    with open(path, "w") as f:
        json.dump(config, f, indent=2)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
