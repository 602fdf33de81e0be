"""What the end-to-end test scripts share: running a command, tallying results."""
import subprocess


def run(*args):
    """stdout of a command; its stderr in the error when it fails."""
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


class Tally:
    """Counts passed and failed cases and prints the closing 'N passed, M failed' line."""

    def __init__(self):
        self.passed = self.failed = 0

    def add(self, problems):
        for problem in problems:
            print("  FAIL " + problem)
        self.passed += not problems
        self.failed += bool(problems)

    def close(self):
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def report(tally, tag, action):
    """Runs one case (`action` returns its problems; an exception is one) and tallies it."""
    try:
        problems = action()
    except Exception as error:
        problems = [f"{tag}: {error}"]
    print(f"  {tag}: {'ok' if not problems else 'MISMATCH'}")
    tally.add(problems)
