"""The reference client's documents (``client/operations/``): each screen's operations validate
against the committed SDL and register, fragments from ``fragments.graphql`` included."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import build_schema, parse, validate

from server.persisted import ClientOperation, DocumentError, client_operations
from storage.persisted import read_manifest, sha256_of
from tests.services import REPO, gesso

OPERATIONS = REPO / "client" / "operations"
FILES = sorted(OPERATIONS.glob("*.graphql"))
SCREENS = {
    "home_feed.graphql": ["HomeFeed"],
    "discover.graphql": ["Discover"],
    "tag_feed.graphql": ["TagFeed"],
    "profile.graphql": ["ProfileHeader", "ProfilePortfolio", "ProfilePosts"],
    "artwork.graphql": ["ArtworkPage"],
    "post.graphql": ["PostPage"],
    "followers.graphql": ["Followers"],
    "following.graphql": ["Following"],
    "moderation.graphql": [
        "ModerationQueue",
        "ResolveReport",
        "SetAiGenerated",
        "UnsuspendUser",
        "ModerationLog",
    ],
    "notifications.graphql": ["Notifications", "MarkNotificationsRead", "LiveNotifications"],
    "post_edit.graphql": ["PostForEdit", "UpdatePost"],
    "report.graphql": ["Report"],
    "search.graphql": ["SearchUsers", "SearchArtworks", "SearchPosts"],
    "settings.graphql": [
        "SafetySettings",
        "UpdateSettings",
        "BlockUser",
        "UnblockUser",
        "MuteUser",
        "UnmuteUser",
        "AccountExport",
        "ExportAccount",
        "DeleteAccount",
    ],
}


def test_every_screen_has_its_file_and_operations() -> None:
    found: dict[str, list[str | None]] = {}
    for operation in client_operations(FILES):
        found.setdefault(operation.path.name, []).append(operation.name)
    assert found == SCREENS


@pytest.mark.parametrize("operation", client_operations(FILES), ids=lambda o: o.name)
def test_each_operation_validates_against_the_committed_sdl(operation: ClientOperation) -> None:
    # the SDL a frontend's tooling reads, with the fragments the operation spreads attached
    # (an unknown or unused fragment is a validation error too)
    sdl = build_schema((REPO / "schema.graphql").read_text())
    assert validate(sdl, parse(operation.text)) == []


def test_register_builds_the_allowlist_from_the_reference_client(tmp_path: Path) -> None:
    done = gesso(
        "persisted",
        "register",
        *(str(path) for path in FILES),
        "--manifest",
        "ops.json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    registered = read_manifest(tmp_path / "ops.json")
    names = sorted(op.name or "" for op in registered.values())
    assert names == sorted(n for ops in SCREENS.values() for n in ops)
    home = next(op for op in registered.values() if op.name == "HomeFeed")
    assert sha256_of(home.query) in registered
    for fragment in ("PostCard", "AvatarThumb", "ImageMedium", "ArtworkTile"):
        assert f"fragment {fragment} on" in home.query
    assert "fragment CommentItem" not in home.query  # only what it spreads


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_fragments_of_another_file_are_attached_transitively(tmp_path: Path) -> None:
    shared = _write(
        tmp_path,
        "fragments.graphql",
        "fragment A on Post { id author { ...B } }\nfragment B on User { handle }\n"
        "fragment Unused on User { bio }",
    )
    screen = _write(tmp_path, "feed.graphql", "query Feed { discoverFeed { nodes { ...A } } }")
    [operation] = client_operations([shared, screen])
    assert operation.path == screen
    assert "fragment A on Post" in operation.text
    assert "fragment B on User" in operation.text
    assert "Unused" not in operation.text


def test_a_fragment_defined_twice_otherwise_is_refused(tmp_path: Path) -> None:
    one = _write(tmp_path, "one.graphql", "fragment A on User { id }")
    two = _write(
        tmp_path, "two.graphql", "fragment A on User { handle } query Q { viewer { ...A } }"
    )
    with pytest.raises(DocumentError, match="fragment A is defined otherwise"):
        client_operations([one, two])


def test_files_without_any_operation_are_refused(tmp_path: Path) -> None:
    only = _write(tmp_path, "fragments.graphql", "fragment A on User { id }")
    with pytest.raises(DocumentError, match="no operation in"):
        client_operations([only])
    done = gesso("persisted", "register", "fragments.graphql", cwd=tmp_path)
    assert done.returncode == 1
    assert "no operation in" in done.stderr


def test_register_refuses_a_spread_of_a_fragment_no_file_defines(tmp_path: Path) -> None:
    _write(tmp_path, "feed.graphql", "query Feed { viewer { ...Missing } }")
    done = gesso("persisted", "register", "feed.graphql", cwd=tmp_path)
    assert done.returncode == 1
    assert "Unknown fragment 'Missing'" in done.stderr
