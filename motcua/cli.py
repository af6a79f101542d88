"""`motcua` command line: catalogue import/index/search (more groups join as the product grows)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from backoffice.cli import apikey_cli, user_cli
from knowledge_base.search import EmptyQueryError

app = typer.Typer(help="Một cửa assistant — command line", no_args_is_help=True, add_completion=False)
kb = typer.Typer(help="Procedure catalogue (thủ tục hành chính)", no_args_is_help=True)
app.add_typer(kb, name="kb")
app.add_typer(user_cli, name="user")
app.add_typer(apikey_cli, name="apikey")
telegram_cli = typer.Typer(help="Telegram bot", no_args_is_help=True)
app.add_typer(telegram_cli, name="telegram")


def _catalogue():  # type: ignore[no-untyped-def]
    from knowledge_base.catalogue import Catalogue

    return Catalogue.from_settings()


@kb.command("import")
def kb_import(
    path: Annotated[Path, typer.Argument(help="Directory, .tar.gz, .jsonl(.gz) or .xlsx export")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Import the portal's procedure records (idempotent upsert), then reindex."""
    if not path.exists():
        typer.echo(f"Không tìm thấy: {path}", err=True)
        raise typer.Exit(2)
    catalogue = _catalogue()
    report = catalogue.import_path(path, progress=not json_out)
    typer.echo(json.dumps(report.to_dict(), ensure_ascii=False) if json_out else report.render())


@kb.command("index")
def kb_index() -> None:
    """Rebuild the search index of the configured backend (MOTCUA_SEARCH) from the catalogue."""
    catalogue = _catalogue()
    count = catalogue.reindex()
    typer.echo(f"Indexed {count} procedures ({catalogue.searcher.backend.name}).")


@kb.command("search")
def kb_search(
    query: Annotated[str | None, typer.Argument(help="The question; omit to read one per stdin line")] = None,
    top: Annotated[int, typer.Option("--top", min=1, max=50)] = 5,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Search the catalogue. With no QUERY: one query per stdin line, one JSON array per line."""
    catalogue = _catalogue()
    if query is None:
        for line in sys.stdin:
            try:
                hits = [h.to_dict() for h in catalogue.search(line.strip(), top)]
            except EmptyQueryError:
                hits = []
            sys.stdout.write(json.dumps(hits, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        return
    try:
        hits = catalogue.search(query, top)
    except EmptyQueryError:
        typer.echo("Câu hỏi trống: hãy nhập tên hoặc mô tả thủ tục cần tìm.", err=True)
        raise typer.Exit(2) from None
    if json_out:
        typer.echo(json.dumps([h.to_dict() for h in hits], ensure_ascii=False))
        return
    searcher = catalogue.searcher
    if not hits or not searcher.is_confident(hits[0]):
        typer.echo("Không tìm thấy thủ tục phù hợp.")
    for hit in hits:
        mark = " " if searcher.is_confident(hit) else "?"
        typer.echo(f"{mark} {hit.score:.3f}  {hit.code:<10} {hit.name}")


@telegram_cli.command("set-webhook")
def telegram_set_webhook(
    url: Annotated[
        str | None, typer.Argument(help="Public HTTPS URL of POST /webhooks/telegram (default TELEGRAM_WEBHOOK_URL)")
    ] = None,
) -> None:
    """Register the webhook with Telegram, with the secret token from TELEGRAM_WEBHOOK_SECRET."""
    import asyncio

    from connectors.telegram import WebhookSetupError, set_webhook
    from core.settings import get_settings

    settings = get_settings()
    target = url or settings.channels.get("TELEGRAM_WEBHOOK_URL", "")
    if not target:
        typer.echo("Hãy cho URL (hoặc đặt TELEGRAM_WEBHOOK_URL).", err=True)
        raise typer.Exit(2)
    try:
        asyncio.run(set_webhook(settings, target))
    except WebhookSetupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Webhook set: {target} (updates: message, callback_query)")


if __name__ == "__main__":
    app()
