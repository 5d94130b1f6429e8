"""`hubcli repo create|delete` and `hubcli repo branch|tag create|delete`: repo administration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from hubcli.cli.common import JsonOpt, RevisionOpt, TypeOpt, YesOpt, confirm, make_typer
from hubcli.cli.context import AppState

if TYPE_CHECKING:
    from hubcli.repo import RepoRef

repo_app = make_typer(help="Create and delete repos, branches and tags; list refs.")
branch_app = make_typer(help="Create and delete branches.")
tag_app = make_typer(help="Create and delete tags.")
repo_app.add_typer(branch_app, name="branch")
repo_app.add_typer(tag_app, name="tag")


def _write_ref(state: AppState, repo: str, repo_type: str | None) -> RepoRef:
    """The repo a write names: a bare name (no namespace) is the token user's (one whoami call,
    before anything is created), as huggingface_hub does."""

    ref = state.hub.ref(repo, repo_type)
    if "/" in ref.repo_id or not state.settings.token:
        return ref
    return state.client().owned_ref(ref)


@repo_app.command("refs")
def refs(
    ctx: typer.Context,
    repo: Annotated[str, typer.Argument(help="Repo id: org/name.")],
    repo_type: TypeOpt = None,
    include_prs: Annotated[
        bool, typer.Option("--include-prs", help="Also list pull requests (refs/pr/N).")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """List a repo's branches and tags (and PRs): name, full ref and commit."""

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out)
    ref = state.hub.ref(repo, repo_type)
    result = state.client().list_refs(ref, include_prs=include_prs)

    def human() -> None:
        groups = [("branch", result.branches), ("tag", result.tags)]
        if result.pull_requests is not None:
            groups.append(("pr", result.pull_requests))
        for kind, items in groups:
            for r in items:
                out.line(f"{kind:<7} {r.target_commit[:12]}  {r.name}")

    out.result(result, human)


@repo_app.command("create")
def create(
    ctx: typer.Context,
    repo: Annotated[str, typer.Argument(help="Repo id: org/name.")],
    repo_type: TypeOpt = None,
    private: Annotated[bool, typer.Option("--private", help="Make the repo private.")] = False,
    exist_ok: Annotated[
        bool, typer.Option("--exist-ok", help="Do not fail if the repo already exists.")
    ] = False,
    space_sdk: Annotated[
        str | None,
        typer.Option("--space-sdk", help="Spaces only: gradio, streamlit, docker or static."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a repo and print its URL."""
    from hubcli.errors import ConflictError, TokenMissingError, UsageError

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out)
    ref = _write_ref(state, repo, repo_type)
    if space_sdk is not None:
        if ref.repo_type != "space":
            raise UsageError("--space-sdk only applies to Spaces (--type space).")
        if space_sdk not in ("gradio", "streamlit", "docker", "static"):
            raise UsageError(
                f"Unknown Space SDK {space_sdk!r}: use gradio, streamlit, docker or static."
            )
    if not state.settings.token:
        raise TokenMissingError(
            "Creating a repo needs a token, and none was found.",
            hint="Run 'hubcli auth login', or pass --token / set HF_TOKEN.",
        )
    try:
        url = state.client().create_repo(
            ref, private=private, exist_ok=exist_ok, space_sdk=space_sdk
        )
    except ConflictError as exc:
        raise ConflictError(
            f"{ref} already exists.", hint="Pass --exist-ok to accept that.", status=exc.status
        ) from exc
    doc = {"repo_id": ref.repo_id, "repo_type": ref.repo_type, "url": url, "private": private}
    out.result(doc, lambda: out.line(url))


@repo_app.command("delete")
def delete(
    ctx: typer.Context,
    repo: Annotated[str, typer.Argument(help="Repo id: org/name.")],
    repo_type: TypeOpt = None,
    yes: YesOpt = False,
    missing_ok: Annotated[
        bool, typer.Option("--missing-ok", help="Do not fail if the repo does not exist.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Delete a repo (asks first; --yes when not in a terminal)."""
    from hubcli.errors import RepoNotFoundError

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out)
    ref = _write_ref(state, repo, repo_type)
    confirm(f"delete the {ref.repo_type} repo {ref.repo_id} and all its history", yes=yes)
    doc = {"repo_id": ref.repo_id, "repo_type": ref.repo_type, "deleted": True}
    try:
        state.client().delete_repo(ref)
    except RepoNotFoundError:
        if not missing_ok:
            raise
        doc["deleted"] = False
        out.result(doc, lambda: out.info(f"{ref} does not exist; nothing to delete."))
        return
    out.result(doc, lambda: out.info(f"Deleted {ref}."))


@branch_app.command("create")
def branch_create(
    ctx: typer.Context,
    repo: Annotated[str, typer.Argument(help="Repo id: org/name.")],
    branch: Annotated[str, typer.Argument(help="New branch name.")],
    revision: RevisionOpt = None,
    repo_type: TypeOpt = None,
    exist_ok: Annotated[
        bool, typer.Option("--exist-ok", help="Accept an existing branch.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Create a branch."""
    from hubcli.errors import ConflictError

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out)
    ref = _write_ref(state, repo, repo_type)
    created = True
    try:
        state.client().create_branch(ref, branch, start=revision)
    except ConflictError as exc:
        if not exist_ok:
            raise ConflictError(
                f"{ref}: branch {branch!r} already exists.",
                hint="Pass --exist-ok to accept that.",
                status=exc.status,
            ) from exc
        created = False
    doc: dict[str, Any] = {"branch": branch, "repo_type": ref.repo_type, "repo_id": ref.repo_id}
    doc |= {"revision": revision, "created": created}
    out.result(doc, lambda: out.info(f"Branch {branch!r} ready in {ref}."))


@branch_app.command("delete")
def branch_delete(
    ctx: typer.Context,
    repo: Annotated[str, typer.Argument(help="Repo id: org/name.")],
    branch: Annotated[str, typer.Argument(help="Branch to delete.")],
    repo_type: TypeOpt = None,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Delete a branch (asks first; --yes when not in a terminal)."""
    state: AppState = ctx.obj
    out = state.output(json_mode=json_out)
    ref = _write_ref(state, repo, repo_type)
    confirm(f"delete branch {branch!r} of {ref}", yes=yes)
    state.client().delete_branch(ref, branch)
    doc = {"branch": branch, "repo_type": ref.repo_type, "repo_id": ref.repo_id}
    out.result(doc, lambda: out.info(f"Deleted branch {branch!r} of {ref}."))


@tag_app.command("create")
def tag_create(
    ctx: typer.Context,
    repo: Annotated[str, typer.Argument(help="Repo id: org/name.")],
    tag: Annotated[str, typer.Argument(help="Tag name.")],
    revision: RevisionOpt = None,
    message: Annotated[str | None, typer.Option("--message", "-m", help="Tag message.")] = None,
    repo_type: TypeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a tag."""
    from hubcli.errors import ConflictError

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out)
    ref = _write_ref(state, repo, repo_type)
    try:
        state.client().create_tag(ref, tag, revision=revision or "main", message=message)
    except ConflictError as exc:
        raise ConflictError(f"{ref}: tag {tag!r} already exists.", status=exc.status) from exc
    doc: dict[str, Any] = {"tag": tag, "repo_type": ref.repo_type, "repo_id": ref.repo_id}
    doc |= {"revision": revision or "main", "message": message}
    out.result(doc, lambda: out.info(f"Tagged {ref}@{revision or 'main'} as {tag!r}."))


@tag_app.command("delete")
def tag_delete(
    ctx: typer.Context,
    repo: Annotated[str, typer.Argument(help="Repo id: org/name.")],
    tag: Annotated[str, typer.Argument(help="Tag to delete.")],
    repo_type: TypeOpt = None,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Delete a tag (asks first; --yes when not in a terminal)."""
    state: AppState = ctx.obj
    out = state.output(json_mode=json_out)
    ref = _write_ref(state, repo, repo_type)
    confirm(f"delete tag {tag!r} of {ref}", yes=yes)
    state.client().delete_tag(ref, tag)
    doc = {"tag": tag, "repo_type": ref.repo_type, "repo_id": ref.repo_id}
    out.result(doc, lambda: out.info(f"Deleted tag {tag!r} of {ref}."))


def register(app: typer.Typer) -> None:
    app.add_typer(repo_app, name="repo")
