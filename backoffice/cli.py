"""`motcua user ...` and `motcua apikey ...`: staff accounts and source-system API keys from the shell."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

user_cli = typer.Typer(help="Staff accounts of the back office", no_args_is_help=True)
apikey_cli = typer.Typer(help="API keys of one-stop-shop systems pushing dossier statuses", no_args_is_help=True)


def _engine() -> Engine:
    """The configured database, migrated to the current schema (a fresh install has no tables yet)."""
    from core.db import get_engine, migrate
    from core.settings import get_settings

    url = get_settings().database_url
    migrate(url)
    return get_engine(url)


def _read_password() -> str:
    """From the terminal (typed twice, hidden) or the first line of stdin (scripts)."""
    if sys.stdin.isatty():
        first = getpass.getpass("Mật khẩu: ")
        if getpass.getpass("Nhập lại mật khẩu: ") != first:
            typer.echo("Hai lần nhập mật khẩu không khớp; chưa tạo tài khoản.", err=True)
            raise typer.Exit(2)
        return first
    return sys.stdin.readline().rstrip("\r\n")


@user_cli.command("create")
def user_create(
    name: Annotated[str, typer.Argument(help="Login name (lowercase letters, digits, . _ -)")],
    role: Annotated[str, typer.Option("--role", help="officer | supervisor | admin")],
    agency: Annotated[str | None, typer.Option("--agency", help="Agency code (cơ quan)")] = None,
    full_name: Annotated[str, typer.Option("--full-name", help="Họ tên")] = "",
) -> None:
    """Create a staff account; the password is read from stdin (asked twice on a terminal)."""
    from backoffice.auth import AccountError, create_user
    from core.clock import system_clock

    password = _read_password()
    with Session(_engine()) as session:
        try:
            user = create_user(
                session, name, password, role=role.strip().lower(), full_name=full_name, agency=agency,
                now=system_clock(),
            )  # fmt: skip
        except AccountError as exc:
            typer.echo(f"Chưa tạo tài khoản: {exc}", err=True)
            raise typer.Exit(2) from None
        session.commit()
    where = f", cơ quan {user.agency}" if user.agency else ""
    typer.echo(f"Đã tạo tài khoản {user.username} ({user.role_label}{where}).")


@apikey_cli.command("create")
def apikey_create(name: Annotated[str, typer.Argument(help="Name of the source system")]) -> None:
    """Create an API key for a source system; the key is printed once (only its SHA-256 is stored)."""
    from backoffice.apikeys import create_api_key
    from backoffice.auth import AccountError
    from core.clock import system_clock

    with Session(_engine()) as session:
        try:
            key = create_api_key(session, name, now=system_clock())
        except AccountError as exc:
            typer.echo(f"Chưa tạo khóa: {exc}", err=True)
            raise typer.Exit(2) from None
        session.commit()
    typer.echo(key)
    typer.echo("Lưu khóa này ngay: hệ thống không hiển thị lại. Gửi trong header X-API-Key.", err=True)


@apikey_cli.command("revoke")
def apikey_revoke(name: Annotated[str, typer.Argument(help="Name of the source system")]) -> None:
    """Revoke a source system's API key."""
    from backoffice.apikeys import revoke_api_key
    from core.clock import system_clock

    with Session(_engine()) as session:
        if not revoke_api_key(session, name, now=system_clock()):
            typer.echo(f"Không có khóa đang dùng tên “{name}”.", err=True)
            raise typer.Exit(2)
        session.commit()
    typer.echo(f"Đã thu hồi khóa {name}.")
