"""Runs test scripts one after the other, each in its own interpreter,
beside the same servers (one PostgreSQL start for several tests); exits
non-zero when any fails. Usage: run_all.py SCRIPT..."""
import subprocess
import sys


def main():
    failed = []
    for script in sys.argv[1:]:
        print("# running %s" % script, flush=True)
        if subprocess.run([sys.executable, script]).returncode != 0:
            failed.append(script)
    if failed:
        print("FAIL: %s" % ", ".join(failed), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
