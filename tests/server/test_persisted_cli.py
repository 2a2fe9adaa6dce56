"""``gesso persisted register`` and ``list``, run as a user would run them."""

from __future__ import annotations

import json
from pathlib import Path

from storage.persisted import read_manifest, sha256_of
from tests.services import gesso as _gesso

FEED = """
fragment PostBits on Post { id text author { ...Who } }
fragment Who on User { handle }
query Feed($after: String) { homeFeed(first: 20, after: $after) { nodes { ...PostBits } } }
mutation Like($id: ID!) { likePost(postId: $id) { errors { code } } }
"""


def test_register_validates_and_registers_each_operation(tmp_path: Path) -> None:
    # given the frontend's document with two operations and nested fragments
    (tmp_path / "feed.graphql").write_text(FEED)
    # when it is registered
    done = _gesso("persisted", "register", "feed.graphql", cwd=tmp_path)
    # then each operation is in the manifest with the fragments it uses, under its hash
    assert done.returncode == 0, done.stderr
    operations = read_manifest(tmp_path / "persisted-queries.json")
    by_name = {op.name or "": (sha, op.query) for sha, op in operations.items()}
    assert sorted(by_name) == ["Feed", "Like"]
    feed_hash, feed_text = by_name["Feed"]
    assert feed_hash == sha256_of(feed_text)
    assert "fragment PostBits on Post" in feed_text
    assert "fragment Who on User" in feed_text
    assert "fragment" not in by_name["Like"][1]
    assert done.stdout.splitlines()[-1] == (
        f"2 operations (2 new) in {Path('persisted-queries.json')}"
    )
    # and registering again keeps them
    again = _gesso("persisted", "register", "feed.graphql", cwd=tmp_path)
    assert again.stdout.splitlines()[-1].startswith("2 operations (0 new)")
    listed = _gesso("persisted", "list", cwd=tmp_path)
    assert f"{feed_hash}  Feed" in listed.stdout


def test_register_refuses_an_invalid_operation(tmp_path: Path) -> None:
    (tmp_path / "bad.graphql").write_text("query Bad { viewer { nope } }")
    done = _gesso("persisted", "register", "bad.graphql", cwd=tmp_path)
    assert done.returncode == 1
    assert "bad.graphql: Bad: Cannot query field 'nope' on type 'User'." in done.stderr
    assert not (tmp_path / "persisted-queries.json").exists()


def test_register_refuses_what_production_would_refuse(tmp_path: Path) -> None:
    aliases = " ".join(f"a{n}: __typename" for n in range(101))
    (tmp_path / "bomb.graphql").write_text(f"query Bomb {{ {aliases} }}")
    done = _gesso("persisted", "register", "bomb.graphql", cwd=tmp_path)
    assert done.returncode == 1
    assert "Bomb: 101 aliases found. Allowed: 100" in done.stderr


def test_register_refuses_a_syntax_error(tmp_path: Path) -> None:
    (tmp_path / "broken.graphql").write_text("query {")
    done = _gesso("persisted", "register", "broken.graphql", cwd=tmp_path)
    assert done.returncode == 1
    assert "broken.graphql: Syntax Error" in done.stderr


def test_the_manifest_is_reviewable_json(tmp_path: Path) -> None:
    (tmp_path / "feed.graphql").write_text(FEED)
    _gesso("persisted", "register", "feed.graphql", "--manifest", "ops.json", cwd=tmp_path)
    manifest = json.loads((tmp_path / "ops.json").read_text())
    assert manifest["version"] == 1
    assert [op["name"] for op in manifest["operations"].values()] == ["Feed", "Like"]
