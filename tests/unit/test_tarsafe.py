"""Safe tar extraction: malicious members are refused and nothing lands outside dest."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from backendai_aio._transfer.tarsafe import UnsafeArchiveError, extract_safely


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def file_member(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def link_member(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def test_plain_archive(tmp_path: Path) -> None:
    archive = make_tar(
        tmp_path / "ok.tar",
        [
            (file_member("a.txt"), b"A"),
            (file_member("sub/b.txt"), b"B"),
            (link_member("l", "a.txt"), None),
        ],
    )
    dest = tmp_path / "dest"
    names = extract_safely(archive, dest)
    assert sorted(names) == ["a.txt", "l", "sub/b.txt"]
    assert (dest / "sub" / "b.txt").read_bytes() == b"B"
    assert (dest / "l").read_bytes() == b"A"


@pytest.mark.parametrize(
    "evil",
    [
        (file_member("/tmp/absolute-escape.txt"), b"x"),
        (file_member("../escape.txt"), b"x"),
        (file_member("sub/../../escape.txt"), b"x"),
        (link_member("link-out", "/etc"), None),
        (link_member("link-up", "../.."), None),
        (link_member("hard-out", "/etc/passwd", tarfile.LNKTYPE), None),
    ],
)
def test_malicious_member_refuses_the_whole_archive(
    tmp_path: Path, evil: tuple[tarfile.TarInfo, bytes | None]
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = outside / "dest"
    archive = make_tar(tmp_path / "evil.tar", [(file_member("first.txt"), b"1"), evil])
    before = set(tmp_path.rglob("*"))
    with pytest.raises(UnsafeArchiveError, match="refused"):
        extract_safely(archive, dest)
    # Nothing was written, not even the harmless first member.
    assert list(dest.iterdir()) == []
    assert set(tmp_path.rglob("*")) == before | {dest}
    assert not Path("/tmp/absolute-escape.txt").exists()


def test_not_a_tar(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tar archive" * 40)
    with pytest.raises(UnsafeArchiveError, match="not a readable tar"):
        extract_safely(junk, tmp_path / "dest")


def test_dot_dot_through_a_link_of_the_same_archive(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    archive = make_tar(
        tmp_path / "sneaky.tar",
        [(link_member("a", "."), None), (file_member("a/../x.txt"), b"x")],
    )
    with pytest.raises(UnsafeArchiveError, match=r"'\.\.' component"):
        extract_safely(archive, dest)
    assert list(dest.iterdir()) == []


def cve_2025_4517_tar(path: Path) -> Path:
    """The layout of CVE-2025-4517: a link whose lexical target stays inside, but whose real
    one (through a chain of links past PATH_MAX) is the destination's parent."""
    long_name = "d" * 247
    steps = "abcdefghijklmnop"
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    here = ""
    for step in steps:
        folder = tarfile.TarInfo(f"{here}{long_name}")
        folder.type = tarfile.DIRTYPE
        members.append((folder, None))
        members.append((link_member(f"{here}{step}", long_name), None))
        here = f"{here}{long_name}/"
    chain = "/".join(steps)
    deep = f"{chain}/{'l' * 254}"
    members.append((link_member(deep, "../" * len(steps)), None))
    members.append((link_member("escape", f"{deep}/../.."), None))
    members.append((file_member("escape/escaped.txt"), b"pwned"))
    return make_tar(path, members)


def test_cve_2025_4517_layout_writes_nothing_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    dest = outside / "dest"
    dest.mkdir(parents=True)
    archive = cve_2025_4517_tar(tmp_path / "cve.tar")
    with pytest.raises(UnsafeArchiveError, match="refused"):
        extract_safely(archive, dest)
    assert list(dest.iterdir()) == []
    assert sorted(p.name for p in outside.iterdir()) == ["dest"]
    assert not (tmp_path / "escaped.txt").exists()


def test_works_without_the_interpreters_filter_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Python 3.11.0-3.11.3 (Debian 12's 3.11.2) have no extraction filters at all.
    for name in ("data_filter", "tar_filter", "fully_trusted_filter", "FilterError"):
        monkeypatch.delattr(tarfile, name, raising=False)
    archive = make_tar(
        tmp_path / "ok.tar",
        [(file_member("a.txt"), b"A"), (link_member("up", "../x"), None)],
    )
    with pytest.raises(UnsafeArchiveError, match="links out of the destination"):
        extract_safely(archive, tmp_path / "refused")
    archive = make_tar(tmp_path / "ok2.tar", [(file_member("sub/a.txt"), b"A")])
    assert extract_safely(archive, tmp_path / "dest") == ["sub/a.txt"]
    assert (tmp_path / "dest" / "sub" / "a.txt").read_bytes() == b"A"


def test_honest_archive_deeper_than_path_max(tmp_path: Path) -> None:
    long_name = "d" * 200
    name = "/".join([long_name] * 25) + "/deep.txt"  # about 5 KB, past PATH_MAX
    archive = make_tar(tmp_path / "deep.tar", [(file_member(name), b"deep")])
    assert extract_safely(archive, tmp_path / "dest") == [name]


def test_links_inside_are_kept_and_hard_links_copied(tmp_path: Path) -> None:
    run = file_member("bin/run.sh")
    run.mode = 0o755
    archive = make_tar(
        tmp_path / "links.tar",
        [
            (run, b"#!/bin/sh\n"),
            (link_member("bin/sibling", "run.sh"), None),
            (link_member("up-and-back", "bin/../bin/run.sh"), None),
            (link_member("hard", "bin/run.sh", tarfile.LNKTYPE), None),
        ],
    )
    dest = tmp_path / "dest"
    extract_safely(archive, dest)
    assert (dest / "bin" / "sibling").read_bytes() == b"#!/bin/sh\n"
    assert (dest / "up-and-back").read_bytes() == b"#!/bin/sh\n"
    assert not (dest / "hard").is_symlink()
    assert (dest / "hard").read_bytes() == b"#!/bin/sh\n"
    assert (dest / "bin" / "run.sh").stat().st_mode & 0o100


@pytest.mark.parametrize(
    "members",
    [
        # A file written through a link the same archive made.
        [(link_member("a", "."), None), (file_member("a/x.txt"), b"x")],
        # A link leading through another link.
        [(link_member("a", "."), None), (link_member("b", "a/../.."), None)],
        # A folder replaced by a link after something was put in it.
        [(file_member("a/x.txt"), b"x"), (link_member("a", ".."), None)],
        # A hard link to a name that is not a file of the archive.
        [(link_member("h", "nowhere", tarfile.LNKTYPE), None)],
    ],
)
def test_link_tricks_are_refused(
    tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]
) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchiveError, match="refused"):
        extract_safely(make_tar(tmp_path / "t.tar", members), dest)
    assert list(dest.iterdir()) == []


def test_no_write_through_a_link_already_in_dest(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (dest / "data").symlink_to(tmp_path / "elsewhere")
    archive = make_tar(tmp_path / "t.tar", [(file_member("data/x.txt"), b"x")])
    with pytest.raises(UnsafeArchiveError, match="through the link"):
        extract_safely(archive, dest)
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_root_folder_entry_is_the_destination(tmp_path: Path) -> None:
    root = tarfile.TarInfo("./")
    root.type = tarfile.DIRTYPE
    archive = make_tar(tmp_path / "t.tar", [(root, None), (file_member("./a.txt"), b"A")])
    assert extract_safely(archive, tmp_path / "dest") == ["./a.txt"]
    assert (tmp_path / "dest" / "a.txt").read_bytes() == b"A"
    # A file or link naming the destination itself is refused.
    for member in (file_member("."), link_member("./", "..")):
        with pytest.raises(UnsafeArchiveError, match="refused"):
            extract_safely(
                make_tar(tmp_path / "u.tar", [(member, b"x" if member.isreg() else None)]),
                tmp_path / "d2",
            )
