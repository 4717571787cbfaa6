#!/usr/bin/python3
"""Proves the container image cannot miss a shared library: every library
`ldd` reports for the built programs belongs (by `dpkg -S`) to a Debian
package that the Dockerfile's runtime stage installs, directly or as a
dependency of one it installs. Also checks install-deps.sh's runtime list.

usage: check_runtime_libs.py DOCKERFILE INSTALL_DEPS BUILD_ROOT BINARY...
A library inside BUILD_ROOT is one of ours, shipped by `meson install`.
"""
import functools
import os
import re
import subprocess
import sys


def runtime_packages(dockerfile):
    text = open(dockerfile, encoding="utf-8").read()
    text = re.sub(r"\\\n", " ", text)
    runtime = text.split("FROM debian:12-slim", 1)
    if len(runtime) != 2:
        sys.exit("FAIL: no runtime stage FROM debian:12-slim in the Dockerfile")
    pkgs = []
    for m in re.finditer(r"apt-get install ([^&\n]*)", runtime[1]):
        pkgs += [w for w in m.group(1).split() if not w.startswith("-")]
    if not pkgs:
        sys.exit("FAIL: the runtime stage installs no packages")
    return pkgs


def install_deps_runtime(path):
    m = re.search(r'RUNTIME_PACKAGES="([^"]*)"', open(path, encoding="utf-8").read())
    return m.group(1).split() if m else []


def depends_closure(roots):
    """Installed packages reachable from roots through Depends/Pre-Depends."""
    seen = set()
    todo = list(roots)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        out = subprocess.run(["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", p],
                             capture_output=True, text=True)
        if out.returncode != 0:
            continue
        for alt in out.stdout.split(","):
            names = [a.strip().split()[0].split(":")[0] for a in alt.split("|") if a.strip()]
            # an alternative is satisfied by whichever choice is installed here
            for n in names:
                if subprocess.run(["dpkg-query", "-W", n], capture_output=True).returncode == 0:
                    todo.append(n)
                    break
    return seen


@functools.lru_cache(maxsize=None)
def libs_of(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"FAIL: ldd {binary}: {out.stderr.strip()}")
    libs = []
    for line in out.stdout.splitlines():
        if "not found" in line:
            sys.exit(f"FAIL: {binary}: {line.strip()}")
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if m:
            libs.append(m.group(1))
    return tuple(libs)


@functools.lru_cache(maxsize=None)
def package_of(lib):
    for path in (lib, os.path.realpath(lib)):
        out = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout.split(":", 1)[0].strip()
        # /lib is a symlink to /usr/lib on Debian 12 (merged /usr)
        alt = re.sub(r"^/usr/lib/", "/lib/", path) if path.startswith("/usr/lib/") else \
            re.sub(r"^/lib/", "/usr/lib/", path)
        out = subprocess.run(["dpkg", "-S", alt], capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout.split(":", 1)[0].strip()
    return None


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    dockerfile, deps, build_root, binaries = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    build_root = os.path.realpath(build_root) + os.sep
    image = runtime_packages(dockerfile)
    script = install_deps_runtime(deps)
    print("runtime stage installs:", " ".join(image))
    failures = []
    if sorted(script) != sorted(image):
        failures.append(f"install-deps.sh RUNTIME_PACKAGES {script} differ from the Dockerfile's {image}")
    closure = depends_closure(image)
    for b in binaries:
        for lib in libs_of(b):
            if os.path.realpath(lib).startswith(build_root):
                print(f"ok {os.path.basename(b)}: {lib} (ours, shipped by meson install)")
                continue
            pkg = package_of(lib)
            if pkg is None:
                failures.append(f"{os.path.basename(b)}: {lib} belongs to no Debian package (built locally?)")
            elif pkg not in closure:
                failures.append(f"{os.path.basename(b)}: {lib} comes from {pkg}, which the runtime stage does not install")
            else:
                how = "installed" if pkg in image else "a dependency"
                print(f"ok {os.path.basename(b)}: {lib} <- {pkg} ({how})")
    unused = [p for p in image if not any(package_of(lib) == p for b in binaries for lib in libs_of(b))]
    if unused:
        print("note: installed but loaded by none of these binaries:", " ".join(unused))
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
