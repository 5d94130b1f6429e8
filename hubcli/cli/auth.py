"""`hubcli auth login|logout|whoami`: the token file shared with huggingface_hub."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hubcli.cli.common import JsonOpt, make_typer
from hubcli.cli.context import AppState

auth_app = make_typer(help="Log in, log out, and show who you are.")


@auth_app.command("login")
def login(
    ctx: typer.Context,
    token: Annotated[
        str | None, typer.Option("--token", help="The token (else a hidden prompt or stdin).")
    ] = None,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Save without checking it with the Hub.")
    ] = False,
) -> None:
    """Save a token to the token file (mode 0600), after checking it with GET /api/whoami-v2."""
    from hubcli import auth
    from hubcli.errors import UsageError

    state: AppState = ctx.obj
    out = state.output()
    if token is None:
        if sys.stdin.isatty():
            import getpass

            token = getpass.getpass("Token (input hidden): ")
        else:
            token = sys.stdin.readline()
    token = (token or "").strip()
    if not token:
        raise UsageError("No token given.", hint="Pass --token, or type it at the prompt.")
    auth.check_token_format(token)
    user = None
    if not no_verify:
        checking = state.with_flags(token=token)
        user = auth.verify_token(checking.settings, checking.session())
    path = auth.save_token(state.settings.token_path, token)
    who = f" as {user}" if user else ""
    out.info(f"Logged in{who}; token saved to {path}.")


@auth_app.command("logout")
def logout(ctx: typer.Context) -> None:
    """Delete the token file."""
    from hubcli import auth

    state: AppState = ctx.obj
    out = state.output()
    removed = auth.delete_token(state.settings.token_path)
    out.info(
        f"Logged out: removed {state.settings.token_path}."
        if removed
        else "Not logged in: no token file to remove."
    )
    if state.settings.token_source.startswith("env:"):
        out.warn(f"a token is still set by {state.settings.token_source[4:]} in your environment.")


@auth_app.command("whoami")
def whoami(
    ctx: typer.Context,
    json_out: JsonOpt = False,
) -> None:
    """Show the user the current token belongs to."""
    state: AppState = ctx.obj
    data = state.client().whoami()
    out = state.output(json_mode=json_out)
    orgs = [o.get("name") for o in data.get("orgs") or [] if isinstance(o, dict)]
    doc = {"name": data.get("name"), "orgs": orgs, "token_source": state.settings.token_source}

    def human() -> None:
        out.line(str(data.get("name")))
        if orgs:
            out.info("orgs: " + ", ".join(str(o) for o in orgs))

    out.result(doc, human)


def register(app: typer.Typer) -> None:
    app.add_typer(auth_app, name="auth")
