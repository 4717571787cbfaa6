"""Builds invq's Python package: the pure-Python modules under invq/ and the
native module invq._invq, which compiles libinvq's sources from the checkout
around this directory (see build_ffi.py and README.md, "Building")."""
import os
import re
from concurrent.futures import ThreadPoolExecutor

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


def version():
    """The project's one version number, from the top-level meson.build."""
    with open(os.path.join(HERE, "..", "..", "meson.build"), encoding="utf-8") as f:
        m = re.search(r"version\s*:\s*'([^']+)'", f.read())
    if not m:
        raise SystemExit("invq: no version in meson.build")
    return m.group(1)


class parallel_build_ext(build_ext):
    """build_ext compiling one extension's C files in parallel (libinvq is
    some 45 files; setuptools compiles them one at a time). Falls back to
    setuptools' own loop when its compiler lacks the hooks used here."""

    def build_extension(self, ext):
        cc = self.compiler
        if not all(hasattr(cc, a) for a in ("_setup_compile", "_get_cc_args", "_compile")):
            return super().build_extension(ext)

        def compile(sources, output_dir=None, macros=None, include_dirs=None, debug=0, extra_preargs=None,
                    extra_postargs=None, depends=None):
            macros, objects, extra_postargs, pp_opts, build = cc._setup_compile(
                output_dir, macros, include_dirs, sources, depends, extra_postargs)
            cc_args = cc._get_cc_args(pp_opts, debug, extra_preargs)

            def one(obj):
                src, ext_ = build[obj]
                cc._compile(obj, src, ext_, cc_args, extra_postargs, pp_opts)

            with ThreadPoolExecutor(max(1, os.cpu_count() or 1)) as pool:
                list(pool.map(one, [o for o in objects if o in build]))
            return objects

        cc.compile = compile
        return super().build_extension(ext)


setup(
    version=version(),
    packages=["invq"],
    package_data={"invq": ["py.typed"]},
    zip_safe=False,
    cffi_modules=["build_ffi.py:pip_ffibuilder"],
    cmdclass={"build_ext": parallel_build_ext},
)
