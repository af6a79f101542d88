"""What the real test servers (Elasticsearch, PostgreSQL, Rasa) share: a free loopback port and an
unprivileged system user to run them as (Elasticsearch and PostgreSQL refuse to run as root)."""

from __future__ import annotations

import pwd
import socket
import subprocess


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True, capture_output=True, timeout=60,
        )
        return pwd.getpwnam(name)
