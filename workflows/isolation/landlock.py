"""Landlock and dropped privileges: what the rlimit level adds without root or namespaces.

Landlock (Linux 5.13 and later) lets any process restrict itself and its future
children. A job at the rlimit level then reads only the paths the host allows
(the system and interpreter, not the user's home nor the project checkout) and
writes only its scratch directory; from ABI 4 it cannot open or accept TCP
connections, from ABI 6 it cannot signal processes outside the run nor reach
their abstract sockets. In every version it cannot ptrace, nor read the memory
or environment (API keys) of, any process outside the run. Whatever the kernel
offers, the job also gets ``no_new_privs`` and no capabilities, so a job started
by root cannot raise its own limits nor read other users' files.

Standard library only: the supervisor loads this file by path, inside the sandbox.
"""

import ctypes
import os
import struct

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
CAPABILITY_VERSION_3 = 0x20080522

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1, 2, 4, 8
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ = EXECUTE | READ_FILE | READ_DIR
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
"""Devices a job may read and write; no other device is reachable."""

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def abi() -> int:
    """The Landlock ABI version this kernel offers (0: none)."""
    version = _libc.syscall(
        ctypes.c_long(SYS_CREATE_RULESET),
        None,
        ctypes.c_size_t(0),
        ctypes.c_uint32(CREATE_RULESET_VERSION),
    )
    return max(0, int(version))


def _handled_fs(version: int) -> int:
    rights = (1 << 13) - 1
    if version >= 2:
        rights |= REFER
    if version >= 3:
        rights |= TRUNCATE
    if version >= 5:
        rights |= IOCTL_DEV
    return rights


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def _add(ruleset: int, path: str, rights: int, handled: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path that is not there needs no rule
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS
        attr = ctypes.create_string_buffer(struct.pack("=Qi", rights & handled, fd))
        # A rule the kernel refuses (an odd file) leaves that path out: less access.
        _libc.syscall(
            ctypes.c_long(SYS_ADD_RULE),
            ctypes.c_int(ruleset),
            ctypes.c_int(RULE_PATH_BENEATH),
            attr,
            ctypes.c_uint32(0),
        )
    finally:
        os.close(fd)


def restrict(readable: list, writable: list, listable: list = ()) -> int:
    """Restrict this process and its future children to reading ``readable`` and the
    devices, writing ``writable`` and listing (not reading) ``listable``; the ABI used
    (0: the kernel has no Landlock)."""
    version = abi()
    if version < 1:
        return 0
    handled = _handled_fs(version)
    fields = [handled]
    if version >= 4:
        fields.append(0b11)  # bind and connect TCP, with no rule allowing either
    if version >= 6:
        fields.append(0b11)  # abstract unix sockets and signals, scoped to the run
    attr = ctypes.create_string_buffer(struct.pack(f"={len(fields)}Q", *fields))
    ruleset = _check(
        _libc.syscall(
            ctypes.c_long(SYS_CREATE_RULESET),
            attr,
            ctypes.c_size_t(len(attr.raw)),
            ctypes.c_uint32(0),
        ),
        "landlock ruleset",
    )
    try:
        for path in readable:
            _add(ruleset, path, READ, handled)
        for path in DEVICES:
            _add(ruleset, path, READ_FILE | WRITE_FILE | TRUNCATE | IOCTL_DEV, handled)
        for path in listable:
            _add(ruleset, path, READ_DIR, handled)
        for path in writable:
            _add(ruleset, path, handled, handled)
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        _check(
            _libc.syscall(
                ctypes.c_long(SYS_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)
            ),
            "landlock restrict_self",
        )
    finally:
        os.close(ruleset)
    return version


def drop_privileges() -> None:
    """``no_new_privs`` and no capabilities, now or after any ``exec`` (root included)."""
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    try:
        with open("/proc/sys/kernel/cap_last_cap") as handle:
            last = int(handle.read())
    except (OSError, ValueError):
        last = 63
    for cap in range(last + 1):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EPERM without CAP_SETPCAP: none to drop
    header = ctypes.create_string_buffer(struct.pack("=Ii", CAPABILITY_VERSION_3, 0))
    data = ctypes.create_string_buffer(bytes(24))
    if _libc.capset(header, data) != 0 and _effective_capabilities() != 0:
        _check(-1, "dropping capabilities")


def _effective_capabilities() -> int:
    """This process's effective capability set (0: none, as for most users)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return -1
