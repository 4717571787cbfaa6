"""invq.Families: the families file (schemas/families-v1.md) as libinvq's
parser reads it (invq_families_*): look-ups, explain, key builders and the
job check. configparser appears only in :meth:`Families.config`, for
display; every rule comes from the C parser."""
import configparser
import os
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple, Union

from ._errors import FamilyError, InvalidArgument, c_text, error_for
from ._invq import ffi, lib
from ._jobs import Job, build
from ._util import Key, cstr, integer, key_bytes

_MODES = {lib.INVQ_FAMILY_OFF: "off", lib.INVQ_FAMILY_SHADOW: "shadow", lib.INVQ_FAMILY_ENFORCE: "enforce"}
_KINDS = {lib.INVQ_KEY_PLAIN: "plain", lib.INVQ_KEY_VERSION: "version", lib.INVQ_KEY_VERSIONED: "versioned"}
_OPS = ((lib.INVQ_FAMILY_DEL, "del"), (lib.INVQ_FAMILY_BUMP, "bump"), (lib.INVQ_FAMILY_EXPIRE, "expire"))
_ERRLEN = 1 << 16


@dataclass(frozen=True)
class FamilyInfo:
    """One ``[family]`` of the file, with its class's policy."""

    name: str
    class_name: str
    ttl_ms: int                      #: the class's ``ttl``: fills live at most this long
    jitter_pct: int                  #: fill TTLs are drawn from [ttl × (1 − jitter/100), ttl]
    negative_ttl_ms: Optional[int]   #: None: no negative caching
    lease_ttl_ms: int                #: the reader's fill lease
    ops: Tuple[str, ...]             #: of "del", "bump", "expire"
    mode: str                        #: "off", "shadow" or "enforce"
    rate_keys: Optional[int]         #: None: no rate limit; else keys per rate_period_ms
    rate_period_ms: Optional[int]
    patterns: Tuple[str, ...]        #: ``keys``, as written
    version_key: Optional[str]       #: the version key pattern; None: not versioned
    owner: Optional[str]
    triggers: Optional[str]
    source: Optional[str]
    audit_query: Optional[str]
    description: Optional[str]
    line: int                        #: of the ``[family]`` header


@dataclass(frozen=True)
class KeyInfo:
    """What :meth:`Families.explain` says about a key."""

    family: FamilyInfo
    kind: str                        #: "plain", "version" (the version key) or "versioned" (a data key)
    pattern: int                     #: index into family.patterns; -1 for the version key
    pattern_text: str
    version: Optional[int]           #: for a data key <key>:v<N>: N
    params: Dict[str, bytes] = field(default_factory=dict)  #: placeholder values, as bytes of the key


def _opt_text(p) -> Optional[str]:
    return None if p == ffi.NULL else c_text(p)


class Families:
    """A families file, loaded by libinvq's parser (the one every part of
    invq uses). ``ns`` is the queue namespace whose keys no family may claim.
    A file with problems raises :class:`InvalidArgument` listing every one as
    ``FILE:LINE: message``. The object is immutable and may be shared by any
    number of threads.

    >>> fams = invq.Families("families.ini")
    >>> fams.key("user", 1, id=42)
    'user:42:profile'
    >>> fams.explain("user:42:profile").family.class_name
    'standard'
    """

    def __init__(self, path: Union[str, os.PathLike], *, ns: str = "invq"):
        self._f = ffi.NULL
        self.path = os.fspath(path)
        self.ns = ns
        out = ffi.new("invq_families **")
        err = ffi.new("char[]", _ERRLEN)
        rc = lib.invq_families_load(cstr("path", self.path, allow_none=False), cstr("ns", ns, allow_none=False),
                                    out, err, _ERRLEN)
        if rc < 0:
            raise error_for(rc, c_text(err) or None)
        self._f = ffi.gc(out[0], lib.invq_families_free)
        self._infos = [self._info(i) for i in range(lib.invq_families_count(self._f))]
        self._by_name = {fi.name: fi for fi in self._infos}

    def _info(self, index: int) -> FamilyInfo:
        fi = ffi.new("invq_family_info *")
        lib.invq_families_family(self._f, index, fi, ffi.sizeof("invq_family_info"))
        return _family_info(fi, tuple(c_text(lib.invq_families_pattern(self._f, index, k))
                                      for k in range(fi.npatterns)))

    # ------------------------------------------------------------- look-ups

    def __len__(self) -> int:
        return len(self._infos)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> List[str]:
        """The families' names, in file order."""
        return [fi.name for fi in self._infos]

    def family(self, name: str) -> FamilyInfo:
        """The family named name; :class:`FamilyError` when the file has none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise FamilyError(lib.INVQ_EFAMILY, "no family '%s' in %s" % (name, self.path)) from None

    def families(self) -> List[FamilyInfo]:
        return list(self._infos)

    def explain(self, key: Key) -> Optional[KeyInfo]:
        """Which family claims key and why (None when no family does):
        the family with its class, whether the key is a plain key, the
        family's version key or a versioned data key, the pattern, and each
        placeholder's value."""
        kb = key_bytes(key)
        ki = ffi.new("invq_key_info *")
        rc = lib.invq_families_explain(self._f, kb, len(kb), ki, ffi.sizeof("invq_key_info"))
        if rc < 0:
            raise error_for(rc)
        if rc == 0:
            return None
        fam = self._infos[lib.invq_families_find(self._f, ki.family.name)]
        params = {c_text(ki.param_names[i]): ffi.unpack(ffi.cast("const char *", ki.param_values[i]),
                                                        ki.param_lens[i])
                  for i in range(ki.nparams)}
        kind = _KINDS[ki.kind]
        return KeyInfo(fam, kind, ki.pattern, c_text(ki.pattern_text),
                       int(ki.version) if kind == "versioned" else None, params)

    # ---------------------------------------------------------- key builders

    def key(self, family: str, pattern: Union[int, str] = 0, /, **values) -> str:
        """The key of a family's pattern from its placeholder values:
        ``key("user", id=42)`` is ``"user:42"``. pattern: the index into the
        family's ``keys`` (default the first), the pattern's text, or -1 /
        "version" for its version key. Values are str, int or bytes; each
        must be non-empty and hold no ``:`` (libinvq checks)."""
        return self.key_bytes(family, pattern, **values).decode("utf-8", "surrogateescape")

    def key_bytes(self, family: str, pattern: Union[int, str] = 0, /, **values) -> bytes:
        """As :meth:`key`, as bytes (for values that are not UTF-8)."""
        index = self._pattern_index(family, pattern)
        names = [ffi.new("char[]", cstr("placeholder", n)) for n in values]
        vals = [_value_bytes(n, v) for n, v in values.items()]
        n = len(vals)
        c_names = ffi.new("char *[]", names) if n else ffi.NULL
        c_vals = ffi.new("void *[]", [ffi.from_buffer(v) for v in vals]) if n else ffi.NULL
        lens = ffi.new("size_t[]", [len(v) for v in vals]) if n else ffi.NULL
        fam = cstr("family", family, allow_none=False)
        cap = 256
        while True:
            buf = ffi.new("char[]", cap)
            outlen = ffi.new("size_t *")
            err = ffi.new("char[]", 512)
            rc = lib.invq_families_build_key(self._f, fam, index, c_names, c_vals, lens, n, buf, cap, outlen, err,
                                             512)
            if rc == lib.INVQ_EINVAL and outlen[0] > cap:
                cap = outlen[0]
                continue
            if rc < 0:
                raise error_for(rc, c_text(err) or None)
            return ffi.unpack(buf, outlen[0])

    def version_key(self, key: Key) -> Key:
        """The version key of a key of a versioned family
        (``"user:42"`` → ``"ver:user:42"``), of the key's type."""
        kb = key_bytes(key)
        out = self._sized(lambda buf, cap, n: lib.invq_families_version_key(self._f, kb, len(kb), buf, cap, n),
                          lambda: "key %r is not a key of a versioned family of %s" % (key, self.path))
        return out.decode("utf-8", "surrogateescape") if isinstance(key, str) else out

    def data_key(self, key: Key, version: int) -> Key:
        """The data key ``<key>:v<version>`` under which a versioned family
        stores key's value, of the key's type."""
        kb = key_bytes(key)
        v = integer("version", version, -(1 << 63), (1 << 63) - 1)
        out = self._sized(lambda buf, cap, n: lib.invq_families_data_key(kb, len(kb), v, buf, cap, n),
                          lambda: "data key of %r" % (key,))
        return out.decode("utf-8", "surrogateescape") if isinstance(key, str) else out

    @staticmethod
    def _sized(call, what) -> bytes:
        cap = 256
        while True:
            buf = ffi.new("char[]", cap)
            n = ffi.new("size_t *")
            rc = call(buf, cap, n)
            if rc == lib.INVQ_EINVAL and n[0] > cap:
                cap = n[0]
                continue
            if rc < 0:
                raise error_for(rc, what())
            return ffi.unpack(buf, n[0])

    def _pattern_index(self, family: str, pattern: Union[int, str]) -> int:
        if isinstance(pattern, str):
            fi = self.family(family)
            if pattern == "version" or pattern == fi.version_key:
                return -1
            try:
                return fi.patterns.index(pattern)
            except ValueError:
                raise FamilyError(lib.INVQ_EFAMILY, "family '%s' has no pattern '%s' (its patterns: %s)"
                                  % (family, pattern, ", ".join(fi.patterns))) from None
        return integer("pattern", pattern, -1, (1 << 31) - 1)

    # ------------------------------------------------------------- job check

    def check_job(self, job: Job) -> None:
        """Checks a job against the file as a producer with this file does
        before sending: raises :class:`FamilyError` naming the key, the op
        and the family when it breaks a rule."""
        cj = build(job)
        try:
            self.check_cjob(cj)
        finally:
            lib.invq_job_free(cj)

    def check_cjob(self, cj) -> None:
        err = ffi.new("char[]", 1024)
        rc = lib.invq_families_check_job(self._f, cj, err, 1024)
        if rc < 0:
            raise error_for(rc, c_text(err) or None)

    # --------------------------------------------------------------- display

    def config(self) -> configparser.ConfigParser:
        """The file as Python's configparser reads it (sections such as
        ``"family user"``), for display and tooling. The file loaded, so
        configparser reads it the same way (families-v1.md §2.1); it applies
        none of the file's rules."""
        cp = configparser.ConfigParser(interpolation=None)
        with open(self.path, encoding="utf-8") as f:
            cp.read_file(f, source=self.path)
        return cp

    def __repr__(self) -> str:
        return "<invq.Families %s: %s>" % (self.path, ", ".join(self.names()))


def _value_bytes(name: str, v) -> bytes:
    if isinstance(v, bool):
        raise TypeError("placeholder %s: a value is str, int or bytes, not bool" % name)
    if isinstance(v, int):
        return str(v).encode("ascii")
    if isinstance(v, (str, bytes, bytearray, memoryview)):
        return key_bytes(v)
    raise TypeError("placeholder %s: a value is str, int or bytes, not %s" % (name, type(v).__name__))


def _family_info(fi, patterns: Tuple[str, ...]) -> FamilyInfo:
    return FamilyInfo(
        name=c_text(fi.name), class_name=c_text(fi.class_name), ttl_ms=int(fi.ttl_ms), jitter_pct=int(fi.jitter_pct),
        negative_ttl_ms=int(fi.negative_ttl_ms) or None, lease_ttl_ms=int(fi.lease_ttl_ms),
        ops=tuple(name for bit, name in _OPS if fi.ops & bit), mode=_MODES[fi.mode],
        rate_keys=int(fi.rate_keys) or None, rate_period_ms=int(fi.rate_period_ms) if fi.rate_keys else None,
        patterns=patterns, version_key=_opt_text(fi.version_key), owner=_opt_text(fi.owner),
        triggers=_opt_text(fi.triggers), source=_opt_text(fi.source), audit_query=_opt_text(fi.audit_query),
        description=_opt_text(fi.description), line=int(fi.line))


__all__ = ["Families", "FamilyInfo", "KeyInfo", "InvalidArgument"]
