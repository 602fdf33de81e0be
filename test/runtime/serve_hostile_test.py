"""`BIN serve` against hostile clients, and its stop on SIGTERM under load.

Each check reproduces a way a client once killed, hung or starved the server:
- a numeric or boolean field nested 70,000 arrays deep (SIGSEGV while the error
  message was built): 400 naming the nesting, and the server keeps serving;
- slow-loris clients trickling a body or headers byte by byte (they took every
  worker thread): a good request is answered at once, and each trickler gets
  408 within --request-timeout;
- a chunked body past the 1 MiB limit (buffered whole: 300 MiB took 400 MB of
  RSS), a gzip body inflating past it and a Content-Length past it: 413, and
  VmRSS stays bounded;
- idle keep-alive connections: do not block others and are closed after the
  idle timeout; past --max-connections a connection gets 503 at once;
- every error (400, 404, 405, 408, 413, 414, 415, 431, 503) has a JSON body
  {"error": {"message", "type"}};
- bad limits on the command line: a non-zero exit naming the option;
- SIGTERM under load (serve never exited): the generation running is answered
  200, the queued requests and one arriving while draining get 503, and serve
  exits 0 within the bound of docs/generation.md; SIGINT stops it the same way.

Usage: serve_hostile_test.py BIN WORKDIR CONFIG.json
"""
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
import ee_reference as ref  # noqa: E402
from harness import Tally  # noqa: E402

REQUEST_TIMEOUT = 2  # seconds, --request-timeout of the server under test
MAX_CONNECTIONS = 32


class Server:
    def __init__(self, command):
        self.process = subprocess.Popen(command + ["--port", "0"], stderr=subprocess.PIPE, text=True)
        line = self.process.stderr.readline()
        if "serving" not in line:
            raise RuntimeError(f"server did not start: {line}{self.process.stderr.read()}")
        address = line.split(" on http://")[1].split()[0]
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)
        self.log = []
        self.reader = threading.Thread(target=lambda: self.log.extend(self.process.stderr), daemon=True)
        self.reader.start()

    def connect(self, timeout=30):
        return socket.create_connection((self.host, self.port), timeout=timeout)

    def rss_kb(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


def read_response(sock):
    """(status, headers, body) of one HTTP response, or None if the connection closed first."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, headers, body[:length]
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        return None


def request(server, method, path, body=b"", headers=None, timeout=60):
    sock = server.connect(timeout)
    try:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
        head = f"{method} {path} HTTP/1.1\r\nHost: x\r\n"
        for key, value in headers.items():
            head += f"{key}: {value}\r\n"
        if method in ("PUT", "POST") and "Transfer-Encoding" not in headers:
            head += f"Content-Length: {len(data)}\r\n"
        sock.sendall(head.encode() + b"\r\n" + data)
        return read_response(sock)
    finally:
        sock.close()


def error_of(response):
    """The {"message", "type"} of a JSON error response, or None."""
    if response is None:
        return None
    try:
        error = json.loads(response[2])["error"]
        return error if isinstance(error.get("message"), str) and isinstance(error.get("type"), str) else None
    except (ValueError, KeyError, TypeError):
        return None


GOOD = {"prompts": ["In the beginning"], "tokens_to_generate": 4}


def check_hostile(server, expect):
    # Deep nesting in a numeric and in a boolean field: 400 naming it; still serving.
    for field, path, prefix in [("tokens_to_generate", "/api", '{"prompts": ["a"], "tokens_to_generate": '),
                                ("echo", "/v1/completions", '{"prompt": "a", "echo": ')]:
        body = (prefix + "[" * 70000 + "]" * 70000 + "}").encode()
        response = request(server, "PUT" if path == "/api" else "POST", path, body)
        error = error_of(response)
        expect(response is not None and response[0] == 400 and error and "nested deeper than 64" in error["message"],
               f"{field} nested 70000 deep: {response and response[:2]} {error}")
        response = request(server, "PUT", "/api", GOOD)
        expect(response is not None and response[0] == 200, f"after the deep {field}: {response}")
    # A long wrong value is not echoed whole.
    response = request(server, "PUT", "/api", {"prompts": ["a"], "tokens_to_generate": "9" * 100000})
    error = error_of(response)
    expect(response and response[0] == 400 and error and len(error["message"]) < 300,
           f"long wrong value: {response and response[0]} message of {error and len(error['message'])} bytes")

    # Slow loris: 8 clients trickle a body, 8 trickle headers.
    tricklers, replies, lock = [], {}, threading.Lock()

    def trickle(i, header_only):
        sock = server.connect(REQUEST_TIMEOUT + 10)
        if header_only:
            head, rest = b"PUT /api HTTP/1.1\r\n", b"X-Slow: " + b"a" * 1000
        else:
            head, rest = b"PUT /api HTTP/1.1\r\nHost: x\r\nContent-Length: 400\r\n\r\n", b'{"prompts": ["' + b"a" * 380
        sock.sendall(head)
        started = time.time()
        try:
            for byte in rest:
                sock.sendall(bytes([byte]))
                time.sleep(0.25)
                if time.time() - started > REQUEST_TIMEOUT + 5:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = read_response(sock)
        with lock:
            replies[i] = (response, time.time() - started)
        sock.close()

    for i in range(16):
        thread = threading.Thread(target=trickle, args=(i, i >= 8))
        thread.start()
        tricklers.append(thread)
    time.sleep(0.5)
    started = time.time()
    response = request(server, "PUT", "/api", GOOD, timeout=10)
    took = time.time() - started
    with lock:
        holding = 16 - len(replies)
    # Answered while every slow client still held its connection (their
    # deadline is 1.5 s later), not once their deadlines freed a thread.
    expect(response is not None and response[0] == 200 and took < 1 and holding == 16,
           f"good request beside 16 slow clients: {response and response[0]} after {took:.1f}s, "
           f"{holding} slow clients still connected")
    for thread in tricklers:
        thread.join()
    for i, (response, took) in sorted(replies.items()):
        error = error_of(response)
        expect(response is not None and response[0] == 408 and error and took < REQUEST_TIMEOUT + 1.5,
               f"slow client {i}: {response and response[:2]} after {took:.1f}s, expected 408 within {REQUEST_TIMEOUT}s")

    # Oversized bodies: chunked, gzip and by Content-Length; RSS stays bounded.
    rss_before = server.rss_kb()
    sock = server.connect()
    sock.sendall(b"PUT /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % 65536 + b"a" * 65536 + b"\r\n"
    sent = 0
    try:
        while sent < 300 << 20:
            sock.sendall(chunk)
            sent += 65536
    except (BrokenPipeError, ConnectionResetError):
        pass
    response = read_response(sock)
    sock.close()
    error = error_of(response)
    # The server may reset the connection before the client reads its answer.
    expect(response is None or (response[0] == 413 and error), f"chunked 300 MiB: {response and response[:2]}")
    expect(sent < 64 << 20, f"the server read {sent >> 20} MiB of a chunked body past its 1 MiB limit")
    bomb = gzip.compress(b" " * (64 << 20))
    response = request(server, "PUT", "/api", bomb, {"Content-Encoding": "gzip"})
    expect(response is not None and response[0] == 413 and error_of(response), f"gzip bomb: {response and response[:2]}")
    sock = server.connect()
    sock.sendall(b"PUT /api HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n")
    response = read_response(sock)
    sock.close()
    expect(response is not None and response[0] == 413 and error_of(response), f"Content-Length 10^12: {response and response[:2]}")
    growth = (server.rss_kb() - rss_before) / 1024
    expect(growth < 40, f"RSS grew {growth:.0f} MB over the oversized bodies")
    response = request(server, "PUT", "/api", GOOD)
    expect(response is not None and response[0] == 200, f"after the oversized bodies: {response}")

    # Idle connections: others are served; the idle ones are closed after the idle timeout.
    idle = [server.connect() for _ in range(20)]
    started = time.time()
    response = request(server, "PUT", "/api", GOOD, timeout=10)
    expect(response is not None and response[0] == 200 and time.time() - started < 1,
           f"beside 20 idle connections: {response and response[0]} after {time.time() - started:.1f}s")
    closed = 0
    for sock in idle:
        sock.settimeout(REQUEST_TIMEOUT + 3)
        try:
            closed += sock.recv(1) == b""
        except OSError:
            closed += 1
        sock.close()
    expect(closed == 20 and time.time() - started < REQUEST_TIMEOUT + 3,
           f"{closed} of 20 idle connections closed after {time.time() - started:.1f}s")
    # Past --max-connections: 503 at once, not a wait. (After the deadline of
    # every earlier connection, so that all the slots are these.)
    time.sleep(REQUEST_TIMEOUT + 0.5)
    idle = [server.connect() for _ in range(MAX_CONNECTIONS)]
    time.sleep(0.3)
    started = time.time()
    response = request(server, "PUT", "/api", GOOD, timeout=10)
    took = time.time() - started
    refused = 0
    for sock in idle:
        sock.settimeout(0.01)
        try:
            refused += sock.recv(64).startswith(b"HTTP/1.1 503")
        except OSError:
            pass
        sock.close()
    expect(response is not None and response[0] == 503 and error_of(response) and took < 1,
           f"past {MAX_CONNECTIONS} connections: {response and response[:2]} after {took:.1f}s "
           f"({refused} of the {MAX_CONNECTIONS} before it refused)")
    time.sleep(0.3)
    response = request(server, "PUT", "/api", GOOD)
    expect(response is not None and response[0] == 200, f"after the idle connections closed: {response}")

    # Every error response has the JSON error body.
    cases = [
        ("400 request line", lambda: raw(server, b"HELLO\r\n\r\n"), 400),
        ("404", lambda: request(server, "GET", "/nope"), 404),
        ("404 with a body", lambda: request(server, "POST", "/nope", b"x" * 1000), 404),
        ("405", lambda: request(server, "GET", "/api"), 405),
        ("405 with a body", lambda: request(server, "POST", "/api", GOOD), 405),
        ("414", lambda: request(server, "GET", "/" + "a" * 9000), 414),
        ("415", lambda: request(server, "PUT", "/api", b"--b\r\n\r\nx\r\n--b--\r\n",
                                {"Content-Type": "multipart/form-data; boundary=b"}), 415),
        ("431", lambda: raw(server, b"GET /v1/models HTTP/1.1\r\n" + b"X-A: b\r\n" * 20000 + b"\r\n"), 431),
        ("400 chunked framing", lambda: request(server, "PUT", "/api", b"zz\r\n",
                                                {"Transfer-Encoding": "chunked"}), 400),
    ]
    for name, send, status in cases:
        response = send()
        expect(response is not None and response[0] == status and error_of(response),
               f"{name}: {response and response[:2]} {response and response[2][:200]}")


def raw(server, data):
    sock = server.connect()
    try:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_response(sock)
    finally:
        sock.close()


def check_sigterm(server, expect):
    """SIGTERM while one request generates and three wait."""
    # As many prompts and tokens as the model takes: seconds of work even on a fast machine.
    heavy = {"prompts": ["In the beginning"] * 128, "tokens_to_generate": server.max_new_tokens}
    results, lock = {}, threading.Lock()

    def client(name, body):
        response = request(server, "PUT", "/api", body, timeout=300)
        with lock:
            results[name] = (response, time.time())

    first = threading.Thread(target=client, args=("running", heavy))
    first.start()
    time.sleep(0.5)  # the heavy request is generating (it takes seconds)
    queued = [threading.Thread(target=client, args=(f"queued {i}", GOOD)) for i in range(3)]
    for thread in queued:
        thread.start()
    time.sleep(0.3)
    # Clients that keep asking through the stop (on main, one arriving after
    # the queue drained waited forever, and so did serve's join of it).
    statuses = []

    def hammer():
        while server.process.poll() is None:
            try:
                response = request(server, "PUT", "/api", GOOD, timeout=30)
            except OSError:
                break
            with lock:
                statuses.append(response and (response[0], bool(error_of(response))))
            time.sleep(0.05)  # a steady stream, not a CPU hog beside the generation

    hammers = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in hammers:
        thread.start()
    time.sleep(0.2)
    stopped_at = time.time()
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    try:
        late = request(server, "PUT", "/api", GOOD, timeout=30)
    except ConnectionRefusedError:
        late = "refused"  # the listener closes once the generation running has ended
    late_at = time.time()
    try:
        code = server.process.wait(timeout=300)
    except subprocess.TimeoutExpired:
        server.process.kill()
        code = "hung"
    exited_at = time.time()
    first.join()
    for thread in queued + hammers:
        thread.join()
    unexpected = [status for status in statuses if status not in [(200, False), (503, True), None]]
    expect(not unexpected, f"answers to the clients asking through the stop: {unexpected}")
    running, answered_at = results.get("running", (None, exited_at))
    expect(running is not None and running[0] == 200 and len(json.loads(running[2])["tokens"]) == 128,
           f"the running request: {running and running[:2]}")
    expect(answered_at > stopped_at, "the running request was answered before the SIGTERM (too light a load)")
    for i in range(3):
        response = results.get(f"queued {i}", (None, 0))[0]
        error = error_of(response)
        expect(response is not None and response[0] == 503 and error and "shutting down" in error["message"],
               f"queued request {i}: {response and response[:2]} {error}")
    if late == "refused":
        expect(answered_at < late_at, "a request while the generation still ran was refused, not answered 503")
    else:
        expect(late is None or (late[0] == 503 and error_of(late)), f"request while draining: {late and late[:2]}")
    server.reader.join(timeout=5)
    log = "".join(server.log)
    expect(code == 0 and "server stopped" in log, f"exit {code} after SIGTERM; log: {log[-500:]}")
    # docs/generation.md: the running generation's remaining time plus 0.1 s.
    expect(exited_at - answered_at < 2, f"exited {exited_at - answered_at:.1f}s after the last generation ended "
                                         f"({exited_at - stopped_at:.1f}s after SIGTERM)")


def main(binary, workdir, config_path):
    with open(config_path) as f:
        config = json.load(f)
    Server.max_new_tokens = config["max_position_embeddings"] - 16
    checkpoint = os.path.join(workdir, "ck")
    os.makedirs(checkpoint, exist_ok=True)
    ref.write_safetensors(os.path.join(checkpoint, "model.safetensors"), ref.random_weights(config, 0.3, 7))
    with open(os.path.join(checkpoint, "config.json"), "w") as f:
        json.dump(config, f)
    command = [binary, "serve", "--load", checkpoint, "--request-timeout", str(REQUEST_TIMEOUT),
               "--max-connections", str(MAX_CONNECTIONS)]
    tally = Tally()
    problems = []
    for option, value in [("--request-timeout", "0"), ("--request-timeout", "x"), ("--max-connections", "0"),
                          ("--max-queue", "-1"), ("--max-batch", "0"), ("--max-batch", "1000"),
                          ("--kv-budget", "0")]:
        result = subprocess.run([binary, "serve", "--load", checkpoint, "--port", "0", option, value],
                                capture_output=True, text=True, timeout=60)
        if result.returncode == 0 or option not in result.stderr:
            problems.append(f"options: {option} {value}: exit {result.returncode}, {result.stderr.strip()!r}")
    print(f"  options: {'ok' if not problems else 'MISMATCH'}")
    tally.add(problems)
    for tag, check in [("hostile clients", check_hostile), ("sigterm under load", check_sigterm)]:
        problems = []

        def expect(condition, message):
            if not condition:
                problems.append(f"{tag}: {message}")

        server = Server(command)
        try:
            check(server, expect)
        except Exception as error:  # noqa: BLE001 - reported as a failure of this check
            problems.append(f"{tag}: {type(error).__name__}: {error}")
        finally:
            if server.process.poll() is None:
                # SIGINT (Ctrl-C) drains like SIGTERM.
                server.process.send_signal(signal.SIGINT)
                try:
                    code = server.process.wait(timeout=30)
                    server.reader.join(timeout=5)
                    if code != 0 or "server stopped" not in "".join(server.log):
                        problems.append(f"{tag}: exit {code} after SIGINT: {''.join(server.log)[-300:]}")
                except subprocess.TimeoutExpired:
                    server.process.kill()
                    problems.append(f"{tag}: the server did not stop on SIGINT")
        print(f"  {tag}: {'ok' if not problems else 'MISMATCH'}")
        tally.add(problems)
    return tally.close()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
