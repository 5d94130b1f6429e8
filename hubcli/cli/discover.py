"""`hubcli search|info|files|ls|card`: find repos, inspect them and read their cards."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hubcli.cli.common import JsonOpt, QuietOpt, RevisionOpt, TypeOpt
from hubcli.cli.context import AppState
from hubcli.cli.output import plural
from hubcli.units import human_size

if TYPE_CHECKING:
    from hubcli.cli.output import Output
    from hubcli.discover import CachedListing
    from hubcli.models import DirEntry, FileEntry, RepoInfo
    from hubcli.repo import RepoRef
    from hubcli.usage import RepoFacts, Snippet

RepoArg = Annotated[str, typer.Argument(help="Repo id (org/name), or datasets/org/name, hf://...")]


def _fancy(out: Output) -> bool:
    """Boxes and colours for a terminal (or --color always); a plain look in pipes."""
    return out.fancy


# -- search -------------------------------------------------------------------------------------
def search(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Argument(help="Text the repo id must contain.")] = None,
    repo_type: TypeOpt = None,
    author: Annotated[str | None, typer.Option("--author", help="User or org.")] = None,
    filters: Annotated[
        list[str] | None, typer.Option("--filter", help="A tag the repo must have (repeatable).")
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="Pipeline tag, e.g. text-classification.")
    ] = None,
    library: Annotated[
        str | None, typer.Option("--library", help="Library tag, e.g. transformers.")
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option("--sort", help="downloads, likes, trending, created or modified."),
    ] = None,
    asc: Annotated[bool, typer.Option("--asc", help="Ascending order (default: descending).")] = (
        False
    ),
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most N results; 0 = all.")] = 20,
    models: Annotated[
        list[str] | None,
        typer.Option("--model", help="Spaces using this model id (repeatable; --type space)."),
    ] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Search models, datasets or Spaces; rows are printed as result pages arrive."""
    from hubcli.discover import search as search_hub
    from hubcli.repo import normalize_repo_type

    state: AppState = ctx.obj
    rtype = normalize_repo_type(repo_type)
    out = state.output(json_mode=json_out, quiet=quiet)
    hits = search_hub(
        state.client(),
        repo_type=rtype,
        query=query,
        author=author,
        filters=tuple(filters or ()),
        task=task,
        library=library,
        sort=sort,
        ascending=asc,
        limit=limit,
        models=tuple(models or ()),
    )
    if json_out:
        # One JSON document, its results streamed item by item (exact numbers, nothing
        # truncated). Nothing reaches stdout before the first page did: an error leaves it empty.
        out.stream({"repo_type": rtype}, "results", (hit.to_json() for hit in hits))
        return
    if quiet:
        for hit in hits:
            out.line(hit.id)
        return
    from hubcli.cli.render import search_cells, search_printer

    printer = None
    for hit in hits:
        if printer is None:
            printer = search_printer(out.console(), fancy=_fancy(out), repo_type=rtype)
            printer.header()
        printer.row(search_cells(hit))
    if printer is None:
        out.info("No results.")
    else:
        out.info(f"{plural(printer.rows, 'result')}.")


# -- info ---------------------------------------------------------------------------------------
def _license(info: RepoInfo) -> str | None:
    card = info.get("cardData") or {}
    if isinstance(card, dict) and card.get("license"):
        value = card["license"]
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    for tag in info.get("tags") or []:
        if isinstance(tag, str) and tag.startswith("license:"):
            return tag.split(":", 1)[1]
    return None


def _snake(key: str) -> str:
    """``lastModified`` -> ``last_modified``, ``model-index`` -> ``model_index`` (the names
    huggingface_hub's ModelInfo/DatasetInfo/SpaceInfo give the API's keys)."""
    import re

    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).replace("-", "_").lower()


def _space_facts(info: RepoInfo) -> dict[str, Any]:
    card = info.get("cardData") or {}
    card = card if isinstance(card, dict) else {}
    runtime = info.get("runtime") or {}
    hardware = None
    if isinstance(runtime, dict):
        hw = runtime.get("hardware") or {}
        if isinstance(hw, dict):
            hardware = hw.get("current") or hw.get("requested")
    return {
        "sdk": info.get("sdk") or card.get("sdk"),
        "app_file": card.get("app_file"),
        "hardware": hardware or card.get("suggested_hardware"),
        "stage": runtime.get("stage") if isinstance(runtime, dict) else None,
    }


def _info_rows(ref: RepoRef, info: RepoInfo, revision: str | None) -> list[tuple[str, str]]:
    from hubcli.card import as_text, summary
    from hubcli.cli.render import human_count, short_date

    rows: list[tuple[str, str]] = [("id", f"{info.repo_id} ({ref.repo_type})")]
    rows.append(("commit", str(info.sha or "-") + (f"  ({revision})" if revision else "")))
    rows.append(("modified", short_date(info.get("lastModified"))))
    if info.get("createdAt"):
        rows.append(("created", short_date(info.get("createdAt"))))
    if info.get("pipeline_tag"):
        rows.append(("task", str(info.get("pipeline_tag"))))
    if info.get("library_name"):
        rows.append(("library", str(info.get("library_name"))))
    lic = _license(info)
    if lic:
        rows.append(("license", lic))
    if ref.repo_type == "space":
        for key, value in _space_facts(info).items():
            if value:
                rows.append((key.replace("_", " "), str(value)))
    if info.get("downloads") is not None and ref.repo_type != "space":
        rows.append(("downloads", human_count(info.get("downloads"))))
    rows.append(("likes", human_count(info.get("likes"))))
    gated = info.get("gated")
    rows.append(("private", "yes" if info.get("private") else "no"))
    rows.append(
        ("gated", f"yes ({gated})" if gated and gated is not True else as_text(bool(gated)))
    )
    card = info.get("cardData")
    if isinstance(card, dict):
        shown = {"license", "task", "library", "tags", "sdk", "app file", "hardware"}
        rows += [(k, v) for k, v in summary(card) if k not in shown]
    tags = [str(t) for t in info.get("tags") or []]
    if tags:
        rows.append(("tags", ", ".join(tags)))
    return rows


def _from_cache(state: AppState, ref: RepoRef, rev: str, out: Output) -> CachedListing:
    """``ref@rev`` from the cache when offline (saying so on stderr); OfflineError (exit 7)
    when the cache cannot answer."""
    from hubcli.discover import cached_listing
    from hubcli.errors import OfflineError

    listing = cached_listing(state.settings.cache_dir, ref, rev)
    if listing is None:
        raise OfflineError(
            f"{ref}@{rev}: not in the cache and offline mode is on.",
            hint="Download it once online, or drop --offline / HF_HUB_OFFLINE.",
        )
    partial = "" if listing.source == "tree" else " (downloaded files only)"
    out.stderr.write(f"offline: from the cache{partial}, commit {listing.commit[:12]}.\n")
    out.stderr.flush()
    return listing


def _offline_info(state: AppState, ref: RepoRef, rev: str, out: Output) -> RepoInfo:
    from hubcli.models import RepoInfo

    listing = _from_cache(state, ref, rev, out)
    raw = {"id": ref.repo_id, "sha": listing.commit, "offline": True}
    return RepoInfo(ref.repo_id, ref.repo_type, listing.commit, raw=raw, files=listing.files)


@dataclass(frozen=True)
class _Extras:
    """What ``info`` and ``card`` add to the metadata: snippets, Spaces, dataset configs."""

    facts: RepoFacts
    snippets: list[Snippet]
    spaces: list[str] | None = None


def _offline_card_meta(state: AppState, ref: RepoRef, rev: str) -> dict[str, Any] | None:
    from hubcli.card import parse_card
    from hubcli.discover import cached_card

    source = cached_card(state.settings.cache_dir, ref, rev)
    if source is None or source.text is None:
        return None
    return parse_card(source.text).metadata


def _extras(
    state: AppState,
    ref: RepoRef,
    data: RepoInfo,
    rev: str | None,
    *,
    card: dict[str, Any] | None = None,
    spaces: bool = True,
) -> _Extras:
    from hubcli import facts as facts_mod
    from hubcli.usage import snippets

    offline = state.settings.offline or bool(data.get("offline"))
    if card is None and offline and ref.repo_type == "dataset":
        card = _offline_card_meta(state, ref, rev or "main")
    session = None if offline else state.session()
    facts = facts_mod.gather(state.settings, session, ref, data, revision=rev, card=card)
    used_by = None
    if spaces and ref.repo_type == "model" and not offline:
        from hubcli.discover import spaces_using

        used_by = spaces_using(state.client(), data.repo_id, data.raw)
    return _Extras(facts, snippets(facts), used_by)


def _print_extras(out: Output, extras: _Extras) -> None:
    from hubcli.cli.render import configs_table, emit, usage_block

    fancy = _fancy(out)
    console = out.console()
    configs = extras.facts.dataset_configs
    if configs:
        if not fancy:
            console.print("subsets and splits")
        emit(console, configs_table(configs, fancy=fancy), fancy=fancy)
        console.print()
    if extras.spaces is not None:
        from hubcli.cli.render import key_value_table

        shown = ", ".join(extras.spaces[:20]) or "none"
        if len(extras.spaces) > 20:
            shown += f", … ({len(extras.spaces)} in all)"
        emit(console, key_value_table([("spaces using it", shown)], fancy=fancy), fancy=fancy)
        console.print()
    emit(console, usage_block(extras.snippets, fancy=fancy), fancy=fancy)
    console.print()


def info(
    ctx: typer.Context,
    repo: RepoArg,
    repo_type: TypeOpt = None,
    revision: RevisionOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A repo's metadata and its files with sizes; files already in the local cache are marked."""
    from hubcli.discover import cached_paths, total_size

    state: AppState = ctx.obj
    ref = state.hub.ref(repo, repo_type)
    rev = revision or ref.revision
    out = state.output(json_mode=json_out)
    if state.settings.offline:
        data = _offline_info(state, ref, rev or "main", out)
    else:
        data = state.client().repo_info(ref, revision=rev, files_metadata=True)
    files = list(data.files)
    cached = cached_paths(state.settings.cache_dir, ref, data.sha, files)
    extras = _extras(state, ref, data, rev)

    def doc() -> dict[str, Any]:
        # huggingface_hub's ModelInfo names: the API's camelCase keys in snake_case, files as
        # "siblings" (rfilename, size, blob_id, lfs), plus what hubcli adds (cached, total_size).
        d: dict[str, Any] = {_snake(k): v for k, v in data.raw.items() if k != "siblings"}
        d.update(id=data.repo_id, repo_type=ref.repo_type, sha=data.sha, revision=rev or "main")
        if ref.repo_type == "space":
            d.update(_space_facts(data))
        d["siblings"] = [
            {
                "rfilename": f.path,
                "size": f.size,
                "blob_id": f.blob_id,
                "lfs": {"sha256": f.lfs_sha256, "size": f.lfs_size} if f.is_lfs else None,
                "cached": f.path in cached,
            }
            for f in files
        ]
        d["total_size"] = total_size(files)
        d["usage"] = [snip.to_json() for snip in extras.snippets]
        if ref.repo_type == "model":
            d["spaces"] = extras.spaces
        if ref.repo_type == "dataset":
            d["configs"] = [c.to_json() for c in extras.facts.dataset_configs]
        return d

    def human() -> None:
        from hubcli.cli.render import emit, files_table, key_value_table

        fancy = _fancy(out)
        console = out.console()
        if data.get("offline"):
            rows = [("id", f"{data.repo_id} ({ref.repo_type})"), ("commit", f"{data.sha}")]
            rows.append(("source", "the local cache (offline)"))
        else:
            rows = _info_rows(ref, data, rev)
        meta = key_value_table(rows, fancy=fancy)
        if fancy:
            from rich.panel import Panel

            emit(console, Panel(meta, title=str(ref), title_align="left"), fancy=fancy)
        else:
            emit(console, meta, fancy=fancy)
        console.print()
        _print_extras(out, extras)
        title = f"{plural(len(files), 'file')}, {human_size(total_size(files))}"
        if cached:
            title += f" ({len(cached)} cached)"
        table = files_table(files, fancy=fancy, cached=cached, title=title if fancy else None)
        emit(console, table, fancy=fancy)
        if not fancy:
            console.print(title)

    out.result(doc, human)


# -- files --------------------------------------------------------------------------------------
def _cached_entries(
    files: tuple[FileEntry, ...], folder: str, *, recursive: bool, where: str
) -> list[FileEntry | DirEntry]:
    """What the tree API would list for ``folder`` (files, and sub-folders unless recursive),
    from a cached listing; a file's own path lists that file."""
    from hubcli.errors import EntryNotFoundError
    from hubcli.models import DirEntry

    exact = [f for f in files if f.path == folder]
    if folder and exact:
        return list(exact)
    prefix = f"{folder}/" if folder else ""
    out: list[FileEntry | DirEntry] = []
    dirs: set[str] = set()
    for f in files:
        if not f.path.startswith(prefix):
            continue
        rest = f.path[len(prefix) :]
        if recursive or "/" not in rest:
            out.append(f)
        if "/" in rest:
            parts = rest.split("/")[:-1]
            tops = ["/".join(parts[: i + 1]) for i in range(len(parts))] if recursive else parts[:1]
            dirs.update(prefix + d for d in tops)
    if folder and not out:
        raise EntryNotFoundError(
            f"{where}: {folder}: no such file or folder in the cached listing."
        )
    out += [DirEntry(path=d) for d in dirs]
    return sorted(out, key=lambda e: e.path)


def _tree_or_file(
    state: AppState, ref: RepoRef, rev: str, folder: str, *, recursive: bool
) -> Iterator[FileEntry | DirEntry]:
    """The tree under ``folder``; when ``folder`` is a file, that file's entry."""
    from hubcli.errors import EntryNotFoundError, RepoNotFoundError, RevisionNotFoundError

    client = state.client()
    entries = client.list_tree(ref, revision=rev, path=folder, recursive=recursive)
    try:
        first = next(entries, None)
    except (RepoNotFoundError, RevisionNotFoundError):
        raise
    except EntryNotFoundError:
        if not folder:
            raise
        found = [
            e for e in client.paths_info(ref, revision=rev, paths=[folder]) if e.path == folder
        ]
        if not found:
            raise
        yield from found
        return
    if first is not None:
        yield first
        yield from entries


def files(
    ctx: typer.Context,
    repo: RepoArg,
    path: Annotated[str | None, typer.Argument(help="A folder inside the repo.")] = None,
    repo_type: TypeOpt = None,
    revision: RevisionOpt = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-R", help="List sub-folders too.")
    ] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """List a repo's files (and folders) with sizes and LFS marks."""
    from hubcli.models import DirEntry, FileEntry
    from hubcli.repo import validate_repo_path

    state: AppState = ctx.obj
    ref = state.hub.ref(repo, repo_type)
    rev = revision or ref.revision or "main"
    folder = path or ref.path or ""
    folder = validate_repo_path(folder.strip("/")) if folder.strip("/") else ""
    out = state.output(json_mode=json_out, quiet=quiet)
    entries: Iterable[FileEntry | DirEntry]
    if state.settings.offline:
        listing = _from_cache(state, ref, rev, out)
        entries = _cached_entries(listing.files, folder, recursive=recursive, where=f"{ref}@{rev}")
    else:
        entries = _tree_or_file(state, ref, rev, folder, recursive=recursive)
    if quiet and not json_out:
        for entry in entries:
            out.line(entry.path + ("/" if isinstance(entry, DirEntry) else ""))
        return
    items = list(entries)

    def doc() -> dict[str, Any]:
        # huggingface_hub's RepoFile / RepoFolder names (blob_id, lfs.sha256, tree_id).
        docs: list[dict[str, Any]] = []
        for e in items:
            if isinstance(e, FileEntry):
                lfs = {"sha256": e.lfs_sha256, "size": e.lfs_size} if e.is_lfs else None
                docs.append(
                    {"type": "file", "path": e.path, "size": e.size, "blob_id": e.blob_id,
                     "lfs": lfs}
                )  # fmt: skip
            else:
                docs.append({"type": "directory", "path": e.path, "tree_id": e.oid})
        return {
            "repo_id": ref.repo_id, "repo_type": ref.repo_type, "revision": rev,
            "path": folder, "entries": docs,
        }  # fmt: skip

    def human() -> None:
        from hubcli.cli.render import emit, files_table

        fancy = _fancy(out)
        file_items = [e for e in items if isinstance(e, FileEntry)]
        n_dirs = len(items) - len(file_items)
        summary = plural(len(file_items), "file")
        if n_dirs:
            summary += f", {plural(n_dirs, 'folder')}"
        summary += f", {human_size(sum(f.size for f in file_items))}"
        where = f"{ref}@{rev}" + (f"/{folder}" if folder else "")
        table = files_table(items, fancy=fancy, title=where if fancy else None)
        emit(out.console(), table, fancy=fancy)
        out.info(summary)

    out.result(doc, human)


# -- card ---------------------------------------------------------------------------------------
def card(
    ctx: typer.Context,
    repo: RepoArg,
    repo_type: TypeOpt = None,
    revision: RevisionOpt = None,
    raw: Annotated[bool, typer.Option("--raw", help="Print README.md as it is.")] = False,
    json_out: JsonOpt = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Read the card from the cache only.")
    ] = False,
    usage: Annotated[
        bool, typer.Option("--usage", help="Print only the 'use it' snippets (to copy).")
    ] = False,
) -> None:
    """Show a repo's card (README.md): metadata panel, the Markdown rendered, then "use it"
    snippets derived from the repo's metadata.

    Offline (or when the Hub cannot be reached) the card comes from the local cache if a README
    was downloaded before.
    """
    from hubcli.card import Card, parse_card
    from hubcli.discover import README, load_card_source
    from hubcli.errors import UsageError

    if usage and raw:
        raise UsageError("--usage and --raw cannot be combined.")
    state: AppState = ctx.obj.with_flags(offline=offline)
    ref = state.hub.ref(repo, repo_type)
    rev = revision or ref.revision or "main"
    out = state.output(json_mode=json_out)
    source = load_card_source(state.session(), settings=state.settings, ref=ref, revision=rev)
    if source.origin == "cache":
        why = "offline" if state.settings.offline else "the Hub could not be reached"
        out.stderr.write(f"(from cache: {why})\n")
        out.stderr.flush()
    if source.truncated:
        out.warn(f"{README} is very large: only its first 32 MiB were read.")
    if source.text is None:
        out.warn(f"{ref}@{rev} has no {README}: there is no card to show.")
        parsed = Card(metadata={}, body="", warnings=(f"no {README}",))
    else:
        parsed = parse_card(source.text)
        for warning in parsed.warnings:
            out.warn(warning)
    if raw:
        if source.text:
            out.stdout.write(source.text)
            out.stdout.flush()
        return
    extras = _card_extras(state, ref, rev, source.commit, parsed.metadata)
    if usage:
        from hubcli.usage import as_text

        if json_out:
            out.json({"usage": [snip.to_json() for snip in extras.snippets]})
        else:
            out.stdout.write(as_text(extras.snippets))
            out.stdout.flush()
        return

    def human() -> None:
        if source.text is None:
            return
        from hubcli.cli.render import render_card

        title = f"{ref} @ {rev}"
        if source.commit and source.commit != rev:
            title += f" ({source.commit[:7]})"
        cut = render_card(out.console(), title=title, card=parsed, fancy=_fancy(out))
        out.console().print()
        _print_extras(out, extras)
        if cut:
            out.info("The card was cut for display; use --raw or --json for the full text.")

    out.result(lambda: {**parsed.to_json(), "usage": [s.to_json() for s in extras.snippets]}, human)


def _card_extras(
    state: AppState, ref: RepoRef, rev: str, commit: str | None, meta: dict[str, Any]
) -> _Extras:
    """Snippets for ``card``: repo info online (one request), else the cached listing."""
    from hubcli.discover import cached_listing
    from hubcli.errors import NetworkError
    from hubcli.models import RepoInfo

    data: RepoInfo | None = None
    if not state.settings.offline:
        try:
            data = state.client().repo_info(ref, revision=rev, files_metadata=True)
        except NetworkError:
            data = None
    if data is None:
        listing = cached_listing(state.settings.cache_dir, ref, rev)
        raw: dict[str, Any] = {"offline": True, "cardData": meta}
        if listing is None:
            data = RepoInfo(ref.repo_id, ref.repo_type, commit, raw=raw)
        else:
            data = RepoInfo(ref.repo_id, ref.repo_type, listing.commit, raw, listing.files)
    return _extras(state, ref, data, rev, card=meta, spaces=False)


def register(app: typer.Typer) -> None:
    app.command("search")(search)
    app.command("info")(info)
    app.command("files")(files)
    app.command("ls", help="Same as 'files'.")(files)
    app.command("card")(card)
