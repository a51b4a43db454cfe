"""Safe tar extraction: malicious members are refused and nothing lands outside dest."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from backendai_aio._tarsafe import UnsafeArchiveError, extract_safely


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
