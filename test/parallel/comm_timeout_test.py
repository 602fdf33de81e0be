"""A rank that stops (SIGSTOP) under mpirun: its peers time out and end the world.

For each case, training runs under mpirun with --comm-timeout 3; once rank 0
has logged an iteration, rank 1 is stopped. The run must end within 60 s
with a non-zero exit and a line naming the waiting rank, the operation and
the peer or group it waited for:
  pipeline (two stages): rank 0 waits for rank 1 (activation gradients, a
    point-to-point receive, or the PP group's reduction of the gradient norm,
    depending on where rank 1 stopped);
  data parallel (DP = 2): rank 0 waits in a collective over the DP group.
Then a malformed timeout is refused and a short run with the timeout off (0)
completes.

Usage: comm_timeout_test.py BIN BIN_PP2 CHECKPOINT CORPUS WORKDIR
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time


def rank_pids(mpirun_pid):
    """World rank -> pid of the processes mpirun started."""
    ranks = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            if parent != mpirun_pid:
                continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        except (OSError, IndexError, ValueError):
            continue
        if b"OMPI_COMM_WORLD_RANK" in env:
            ranks[int(env[b"OMPI_COMM_WORLD_RANK"])] = int(entry)
    return ranks


def train_command(binary, checkpoint, corpus, save, ranks, timeout, iters=100000):
    return [shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe", "-np", str(ranks),
            "-x", "OMP_NUM_THREADS=1", binary, "train", "--load", checkpoint, "--data", corpus,
            "--iters", str(iters), "--global-batch", "4", "--micro-batch", "2", "--seq-len", "16",
            "--lr", "1e-3", "--log-interval", "1", "--save", save, "--comm-timeout", timeout]


def stop_rank_one_and_wait(command, tag):
    """Runs `command`, stops rank 1 after the first logged iteration; returns (exit code, seconds, output)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    progressed = threading.Event()

    def read():
        for line in process.stdout:
            lines.append(line)
            if re.search(r"iteration\s+\d", line):
                progressed.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    stopped = None
    try:
        if not progressed.wait(60):
            raise RuntimeError(f"{tag}: no iteration logged within 60 s:\n{''.join(lines)}")
        ranks = rank_pids(process.pid)
        if 1 not in ranks:
            raise RuntimeError(f"{tag}: cannot find rank 1 among mpirun's children {ranks}")
        stopped = ranks[1]
        os.kill(stopped, signal.SIGSTOP)
        start = time.monotonic()
        code = process.wait(timeout=60)
        seconds = time.monotonic() - start
    except subprocess.TimeoutExpired:
        code, seconds = None, 60.0
    finally:
        if process.poll() is None:
            for pid in rank_pids(process.pid).values():
                os.kill(pid, signal.SIGKILL)
            process.kill()
            process.wait()
        if stopped is not None:
            try:
                os.kill(stopped, signal.SIGKILL)
            except ProcessLookupError:
                pass
    reader.join(5)
    return code, seconds, "".join(lines)


def main(binary, binary_pp2, checkpoint, corpus, workdir):
    failures = 0

    def expect(condition, message, output=""):
        nonlocal failures
        if not condition:
            failures += 1
            print(f"FAIL: {message}\n{output[-3000:]}")

    cases = [
        ("pipeline", binary_pp2,
         r"error \(rank 0\): communication timeout: waited 3 s for (rank 1 to (send|receive) a message "
         r"\(MPI_(Recv|Send|Wait on MPI_Irecv|Wait on MPI_Isend)( of \d+ bytes)?, tag \d+\)"
         r"|MPI_\w+ over the PP group \(world ranks 0, 1\))"),
        ("data-parallel", binary,
         r"error \(rank 0\): communication timeout: waited 3 s for MPI_\w+ over the DP group \(world ranks 0, 1\)"),
    ]
    for tag, program, pattern in cases:
        command = train_command(program, checkpoint, corpus, os.path.join(workdir, tag), 2, "3")
        code, seconds, output = stop_rank_one_and_wait(command, tag)
        expect(code is not None and code != 0, f"{tag}: exit code {code}, wanted a non-zero exit", output)
        expect(seconds < 45, f"{tag}: took {seconds:.1f} s after the stop", output)
        expect(re.search(pattern, output), f"{tag}: no line matching {pattern!r}", output)
        print(f"{tag}: ok" if failures == 0 else f"{tag}: failed")

    # The option is validated, and 0 turns the timeout off (a short run completes).
    bad = subprocess.run([binary, "info", "--comm-timeout", "-1"], capture_output=True, text=True)
    expect(bad.returncode != 0 and "--comm-timeout needs a number of seconds >= 0" in bad.stderr,
           "--comm-timeout -1 accepted", bad.stderr)
    off = subprocess.run(train_command(binary, checkpoint, corpus, os.path.join(workdir, "off"), 2, "0", iters=2),
                         capture_output=True, text=True, timeout=120)
    expect(off.returncode == 0, "a run with --comm-timeout 0 failed", off.stdout + off.stderr)
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
