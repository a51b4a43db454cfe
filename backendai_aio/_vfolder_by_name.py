"""`by_name`: a `VFolder` call reachable from ``client.vfolders`` with the folder as first argument.

``client.vfolders.rename("data", "data2")`` is ``client.vfolders.get("data").rename("data2")``:
the handle holds the one implementation, and ``VFolders`` declares one line per call,
``rename = by_name(VFolder.rename)``. The bound call keeps the handle method's signature
(after a leading folder name or id) for type checkers, and its docstring for readers.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from ._transfer.protocol import FolderRef

if TYPE_CHECKING:
    from ._vfolder import VFolder

__all__ = ["by_name"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


class _HandleMaker(Protocol):
    def get(self, name: FolderRef) -> VFolder: ...


class by_name(Generic[_P, _R]):
    """Expose the handle method *method* on ``VFolders``, taking the folder first."""

    def __init__(self, method: Callable[Concatenate[VFolder, _P], Coroutine[Any, Any, _R]]) -> None:
        self.method = method
        self.__doc__ = method.__doc__
        self.name = method.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        if name != self.method.__name__:
            raise TypeError(f"{owner.__name__}.{name} must be by_name(VFolder.{name})")

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> by_name[_P, _R]: ...

    @overload
    def __get__(
        self, obj: _HandleMaker, owner: type | None = None
    ) -> Callable[Concatenate[FolderRef, _P], Coroutine[Any, Any, _R]]: ...

    def __get__(self, obj: _HandleMaker | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        method = self.method

        async def call(name: FolderRef, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            return await method(obj.get(name), *args, **kwargs)

        # What `functools.wraps` would copy, without hiding the signature from type checkers.
        call.__name__ = call.__qualname__ = self.name
        call.__doc__ = method.__doc__
        return call
