"""Build helper for meson: stages the invq package (the Python modules and
the native module meson built) into DEST/invq/, the PYTHONPATH the tests and
benchmarks use, and touches STAMP. Usage: stage.py DEST STAMP FILE..."""
import os
import shutil
import sys


def main():
    dest, stamp, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    pkg = os.path.join(dest, "invq")
    os.makedirs(pkg, exist_ok=True)
    for path in files:
        shutil.copyfile(path, os.path.join(pkg, os.path.basename(path)))
    with open(stamp, "w", encoding="utf-8") as f:
        f.write("\n".join(sorted(os.path.basename(p) for p in files)) + "\n")


if __name__ == "__main__":
    main()
