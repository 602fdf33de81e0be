"""A checkpoint truncated in place under a running `BIN serve`: the weights were
read into memory at start, so the next request is answered as before (no
SIGBUS, which a memory-mapped file gives once its pages are gone), and the
server still stops on SIGTERM.

Usage: truncate_under_server.py BIN CHECKPOINT_DIR
"""
import json
import os
import subprocess
import sys
import time
import urllib.request


def ask(url):
    body = json.dumps({"prompts": ["In the beginning"], "tokens_to_generate": 8}).encode()
    request = urllib.request.Request(url + "/api", data=body, method="PUT",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read())


def main(binary, checkpoint):
    server = subprocess.Popen([binary, "serve", "--load", checkpoint, "--port", "0"],
                              stderr=subprocess.PIPE, text=True)
    line = server.stderr.readline()
    if "serving" not in line:
        sys.exit(f"server did not start: {line}{server.stderr.read()}")
    url = line.split(" on ")[1].split()[0]
    status, before = ask(url)
    print("before:", status)
    weights = os.path.join(checkpoint, "model.safetensors")
    # In place (the same inode), as a copy or a crashed writer would leave it.
    os.truncate(weights, 100)
    try:
        status, after = ask(url)
        same = all(after[key] == before[key] for key in ("tokens", "exits"))
        print("after truncation:", status, "same answer" if same else "different answer")
    except OSError as error:
        print("after truncation: no answer:", error)
    time.sleep(0.5)  # a signal-killed server needs a moment to be reaped
    alive = server.poll() is None
    print("alive:", alive)
    if not alive:
        sys.exit(f"the server died with status {server.returncode}")
    server.terminate()
    print("exit:", server.wait(timeout=30))


if __name__ == "__main__":
    main(*sys.argv[1:])
