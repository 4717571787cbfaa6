"""Counts test results from meson testlog.json files (one JSON object per
line) and prints `tests: N passed, M failed` as the last line. A skipped test
counts as failed when CI is set: CI installs every dependency, so nothing may
skip there."""
import json
import os
import sys


def main(paths):
    passed = failed = skipped = 0
    missing = []
    for path in paths:
        if not os.path.exists(path):
            missing.append(path)
            continue
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                rec = json.loads(line)
                result = rec.get("result", "")
                name = rec.get("name", "?")
                if result in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif result == "SKIP":
                    skipped += 1
                    print(f"skipped: {name} ({path})")
                else:
                    failed += 1
                    print(f"failed: {name} [{result}] ({path})")
    for path in missing:
        print(f"missing test log: {path} (that step did not run)")
        failed += 1
    if os.environ.get("CI"):
        failed += skipped
        skipped = 0
    tail = f", {skipped} skipped" if skipped else ""
    print(f"tests: {passed} passed, {failed} failed{tail}")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
