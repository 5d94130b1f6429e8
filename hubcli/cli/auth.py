"""`hubcli auth login|logout|whoami|list|switch`: the token files shared with huggingface_hub."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hubcli.cli.common import JsonOpt, QuietOpt, make_typer
from hubcli.cli.context import AppState

auth_app = make_typer(help="Log in, log out, switch between named tokens, show who you are.")

TokenNameOpt = Annotated[
    str | None,
    typer.Option(
        "--token-name",
        "--name",
        help="Also store the token under this name (huggingface_hub's stored_tokens).",
    ),
]


@auth_app.command("login")
def login(
    ctx: typer.Context,
    token: Annotated[
        str | None, typer.Option("--token", help="The token (else a hidden prompt or stdin).")
    ] = None,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Save without checking it with the Hub.")
    ] = False,
    token_name: TokenNameOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Save a token to the token file (mode 0600), after checking it with GET /api/whoami-v2."""
    from hubcli import auth
    from hubcli.errors import UsageError

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out)
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
    if token_name is not None:
        auth.check_token_name(token_name)
    user = None
    if not no_verify:
        checking = state.with_flags(token=token)
        user = auth.verify_token(checking.settings, checking.session())
    if token_name is not None:
        auth.store_token(state.settings.token_path, token_name, token)
    path = auth.save_token(state.settings.token_path, token)
    who = f" as {user}" if user else ""
    named = f" as '{token_name}'" if token_name is not None else ""
    doc = {
        "user": user, "endpoint": state.settings.endpoint, "token_path": str(path),
        "token_name": token_name, "verified": not no_verify,
    }  # fmt: skip
    out.result(doc, lambda: out.info(f"Logged in{who}; token saved{named} to {path}."))


@auth_app.command("logout")
def logout(
    ctx: typer.Context,
    token_name: Annotated[
        str | None,
        typer.Option(
            "--token-name",
            "--name",
            help="Forget this stored token only (and the token file if it is the active one).",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Delete the token file (with --token-name: forget that stored token)."""
    from hubcli import auth

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out)
    path = str(state.settings.token_path)
    if token_name is not None:
        dropped = auth.forget_token(state.settings.token_path, token_name)
        active = " It was the active token: the token file is removed." if dropped else ""
        doc = {"token_name": token_name, "token_file_removed": bool(dropped), "token_path": path}
        out.result(doc, lambda: out.info(f"Forgot the stored token '{token_name}'.{active}"))
        return
    removed = auth.delete_token(state.settings.token_path)
    doc = {"token_name": None, "token_file_removed": bool(removed), "token_path": path}
    out.result(
        doc,
        lambda: out.info(
            f"Logged out: removed {path}." if removed else "Not logged in: no token file to remove."
        ),
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
    doc = {
        "user": data.get("name"), "orgs": orgs, "endpoint": state.settings.endpoint,
        "token_source": state.settings.token_source,
    }  # fmt: skip

    def human() -> None:
        out.line(str(data.get("name")))
        if orgs:
            out.info("orgs: " + ", ".join(str(o) for o in orgs))

    out.result(doc, human)


@auth_app.command("list")
def list_tokens(
    ctx: typer.Context,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """List the stored tokens by name and mark the active one (tokens are shown masked)."""
    from hubcli import auth

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out, quiet=quiet)
    settings = state.settings
    tokens = auth.list_stored_tokens(settings.token_path, settings.token)
    active = next((t.name for t in tokens if t.active), None)
    doc = {
        "tokens": [
            {
                "name": t.name,
                "token": t.masked,
                "active": t.active,
                "expires_at": t.expires_at,
            }
            for t in tokens
        ],
        "active": active,
        "token_source": settings.token_source,
        "stored_tokens_path": str(auth.stored_tokens_path(settings.token_path)),
    }

    def human() -> None:
        if quiet:
            for t in tokens:
                out.line(t.name)
            return
        if not tokens:
            out.info("No stored tokens (save one with 'hubcli auth login --token-name NAME').")
            return
        width = max(len(t.name) for t in tokens)
        for t in tokens:
            out.line(f"{'*' if t.active else ' '} {t.name:<{width}}  {t.masked or '<not set>'}")

    out.result(doc, human)
    if settings.token_source.startswith("env:") or settings.token_source == "flag":
        where = settings.token_source[4:] if settings.token_source != "flag" else "--token"
        out.warn(f"{where} is set: it is the token in use, whatever the stored tokens say.")
    elif tokens and active is None and settings.token is not None:
        out.info("The token file's token is not stored under a name.")


@auth_app.command("switch")
def switch(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="The stored token to make active.", show_default=False)
    ] = None,
    token_name: Annotated[
        str | None, typer.Option("--token-name", help="Same as NAME (hf's spelling).")
    ] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Make a stored token the active one: it is written to the token file, as hf does."""
    from hubcli import auth
    from hubcli.errors import UsageError

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out, quiet=quiet)
    if name is not None and token_name is not None and name != token_name:
        raise UsageError("Give the token name once: NAME or --token-name.")
    chosen = name if name is not None else token_name
    if chosen is None:
        raise UsageError(
            "Which token? Give its name.", hint="('hubcli auth list' shows the stored names)"
        )
    path = auth.switch_token(state.settings.token_path, chosen)
    doc = {"active": chosen, "token_path": str(path), "token_source": state.settings.token_source}
    out.result(doc, lambda: out.info(f"Switched to the token '{chosen}' (written to {path})."))
    source = state.settings.token_source
    if source.startswith("env:"):
        out.warn(f"{source[4:]} is set and overrides the token you switched to.")


def register(app: typer.Typer) -> None:
    app.add_typer(auth_app, name="auth")
