"""Keeping file-system nodes inside their base directory, and reading node inputs.

FileOperationNode and FolderAnalyzerNode take user- or LLM-supplied relative paths. Checking a
path and then opening it by name loses a race against anyone who swaps a directory for a symlink
in between, so a ``BaseDir`` holds a descriptor on the base and walks every path one component at
a time (``dir_fd=``, ``O_NOFOLLOW``): whatever the directory holds at the moment of each step, the
walk never leaves the base. ``..`` above the base and absolute paths are refused before any walk;
a symlink met on the way is refused, never followed. POSIX only (``os.supports_dir_fd``).
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
from pathlib import Path
from typing import Any

from danaflow.context.result import NodeInput
from danaflow.errors import ComponentError

__all__ = ["BaseDir", "Parts", "input_variables", "rel", "split"]

Parts = tuple[str, ...]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
"""O_NONBLOCK: a FIFO swapped in for a file must not hang the reader."""
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def split(relative: str | Path, what: str, node_path: str, base: Path | str = "") -> Parts:
    """The components of ``relative`` below the base, ``..`` folded lexically.

    ComponentError (naming ``what``, e.g. ``create_file 'a/b'``, and the node) for an absolute
    path, a NUL byte, or ``..`` that climbs above the base. Folding is sound because the walk that
    follows never traverses a symlink, so ``a/../b`` on disk is ``b`` whatever ``a`` is.
    """
    text = os.fspath(relative)
    if "\0" in text:
        raise ComponentError(f"{what}: the path holds a NUL byte, want a plain relative path", path=node_path)
    if text.startswith(("/", "\\")) or os.path.isabs(text):
        raise ComponentError(f"{what}: the path escapes the base directory {base}: refused", path=node_path)
    parts: list[str] = []
    for name in text.split("/"):
        if name in ("", "."):
            continue
        if name == "..":
            if not parts:
                raise ComponentError(
                    f"{what}: the path escapes the base directory {base}: refused", path=node_path
                )
            parts.pop()
        else:
            parts.append(name)
    return tuple(parts)


def rel(parts: Parts) -> str:
    """The display form of ``parts`` ('.' for the base itself)."""
    return "/".join(parts) or "."


class BaseDir:
    """An open descriptor on a base directory, and the symlink-refusing walks below it.

    Every method takes ``parts`` (from ``split``) and ``what`` (the operation and path, for errors).
    Descriptors returned by ``open_dir`` / ``open_file`` belong to the caller. The base path itself
    is trusted (it comes from the flow definition) and may contain symlinks; nothing below it may.
    """

    def __init__(self, base: Path, node_path: str):
        self.node_path = node_path
        try:
            self.fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise ComponentError(f"base directory {str(base)!r} does not exist", path=node_path) from exc
        self.path = Path(os.path.realpath(base))
        """Where the base was when opened; used only to resolve symlink text, never to open."""

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> BaseDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refuse(self, what: str, message: str) -> ComponentError:
        return ComponentError(f"{what}: {message}", path=self.node_path)

    def _symlink_refusal(self, what: str, parts: Parts) -> ComponentError:
        return self.refuse(what, f"{rel(parts)!r} is a symlink: refused (symlinks are never followed)")

    def open_dir(self, parts: Parts, what: str, *, create: bool = False) -> int | None:
        """A new descriptor on directory ``parts``, or None when a component is missing (or a file
        on the way, unless ``create``). ``create`` makes missing directories, like ``mkdir -p``.
        A symlink anywhere on the way is refused.
        """
        cur = os.dup(self.fd)
        try:
            for i, name in enumerate(parts):
                nxt = self._step(cur, name, parts[: i + 1], what, create)
                os.close(cur)
                cur = nxt
                if cur is None:
                    return None
            out, cur = cur, None
            return out
        finally:
            if cur is not None:
                os.close(cur)

    def _step(self, cur: int, name: str, shown: Parts, what: str, create: bool) -> int | None:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=cur)
        except FileNotFoundError:
            if not create:
                return None
        except OSError as exc:
            return self._not_a_directory(cur, name, shown, what, exc, create)
        try:
            os.mkdir(name, 0o777, dir_fd=cur)
        except FileExistsError:
            pass  # made meanwhile by someone else: the open below decides what it is
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=cur)
        except FileNotFoundError:
            raise self.refuse(what, f"{rel(shown)!r} vanished while it was being made") from None
        except OSError as exc:
            return self._not_a_directory(cur, name, shown, what, exc, create)

    def _not_a_directory(
        self, cur: int, name: str, shown: Parts, what: str, exc: OSError, create: bool
    ) -> None:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise exc
        st = _lstat(cur, name)
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise self._symlink_refusal(what, shown) from None
        if st is not None and stat.S_ISDIR(st.st_mode):  # it was a symlink a moment ago
            raise self.refuse(
                what, f"{rel(shown)!r} changed while it was opened (a symlink swapped in?): refused"
            )
        if create:
            raise self.refuse(what, f"{rel(shown)!r} is not a directory") from None
        return None

    def lstat(self, parts: Parts, what: str) -> os.stat_result | None:
        """The entry ``parts`` names, not followed (a symlink's own stat), or None if missing."""
        if not parts:
            return os.fstat(self.fd)
        parent = self.open_dir(parts[:-1], what)
        if parent is None:
            return None
        try:
            return _lstat(parent, parts[-1])
        finally:
            os.close(parent)

    def kind(self, parts: Parts, what: str) -> str | None:
        """'file', 'dir', 'other' or None (missing); a symlink is refused."""
        st = self.lstat(parts, what)
        if st is None:
            return None
        if stat.S_ISLNK(st.st_mode):
            raise self._symlink_refusal(what, parts)
        if stat.S_ISREG(st.st_mode):
            return "file"
        return "dir" if stat.S_ISDIR(st.st_mode) else "other"

    def open_file(self, parts: Parts, what: str) -> int:
        """A read descriptor on the regular file ``parts``; missing, a symlink or not a file is refused."""
        parent = self.open_dir(parts[:-1], what) if parts else None
        if parent is None:
            raise self.refuse(what, "no such file")
        try:
            return self.open_file_at(parent, parts, what)
        finally:
            os.close(parent)

    def open_file_at(self, parent: int, parts: Parts, what: str) -> int:
        """``open_file`` for the last component of ``parts``, inside the already open ``parent``."""
        try:
            fd = os.open(parts[-1], _READ_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            raise self.refuse(what, "no such file") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise self._symlink_refusal(what, parts) from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise self.refuse(what, f"{rel(parts)!r} is not a regular file")
        return fd

    def read_text(self, parts: Parts, what: str) -> str:
        with os.fdopen(self.open_file(parts, what), "rb") as fh:
            raw = fh.read()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.refuse(what, f"not UTF-8 text (byte {exc.start}), want a text file") from None

    def write_bytes(self, parts: Parts, data: bytes, what: str, *, overwrite: bool = True) -> None:
        """Writes ``parts`` atomically (a temp file beside it, then a rename), making parents.

        Without ``overwrite`` the file is created with O_EXCL, so an existing one is never replaced.
        A symlink at ``parts`` is refused; had one been swapped in after that check, the rename
        replaces the link itself, which stays inside the base.
        """
        parent = self._parent(parts, what)
        name = parts[-1]
        try:
            if not overwrite:
                try:
                    fd = os.open(name, _CREATE_FLAGS, 0o666, dir_fd=parent)
                except FileExistsError:
                    raise self.refuse(what, "the file exists and overwrite is false") from None
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                return
            old = self._existing(parent, parts, what)
            tmp = f".{name[:64]}.{secrets.token_hex(6)}.tmp"
            fd = os.open(tmp, _CREATE_FLAGS, 0o666, dir_fd=parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    if old is not None:
                        os.fchmod(fh.fileno(), stat.S_IMODE(old.st_mode))
                    fh.write(data)
                os.rename(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
            except BaseException:
                _unlink_quietly(parent, tmp)
                raise
        finally:
            os.close(parent)

    def unlink(self, parts: Parts, what: str) -> None:
        """Removes the file ``parts``; already gone is fine, a symlink or a directory is refused."""
        parent = self.open_dir(parts[:-1], what)
        if parent is None:
            return
        try:
            if self._existing(parent, parts, what) is not None:
                os.unlink(parts[-1], dir_fd=parent)
        finally:
            os.close(parent)

    def rename(self, src: Parts, dst: Parts, what: str) -> None:
        """Moves the regular file ``src`` to ``dst`` (replacing a file there), making parents."""
        sp = self._parent(src, what, create=False)
        try:
            st = _lstat(sp, src[-1])
            if st is None:
                raise self.refuse(what, "no such file")
            if stat.S_ISLNK(st.st_mode):
                raise self._symlink_refusal(what, src)
            if not stat.S_ISREG(st.st_mode):
                raise self.refuse(what, f"{rel(src)!r} is not a regular file")
            dp = self._parent(dst, what)
            try:
                self._existing(dp, dst, what)
                try:
                    os.rename(src[-1], dst[-1], src_dir_fd=sp, dst_dir_fd=dp)
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
                    with os.fdopen(self.open_file_at(sp, src, what), "rb") as fh:
                        data = fh.read()
                    self.write_bytes(dst, data, what)
                    os.unlink(src[-1], dir_fd=sp)
            finally:
                os.close(dp)
        finally:
            os.close(sp)

    def make_dirs(self, parts: Parts, what: str) -> None:
        fd = self.open_dir(parts, what, create=True)
        if fd is not None:
            os.close(fd)

    def remove_tree(self, parts: Parts, what: str) -> None:
        """Removes directory ``parts`` and everything in it (symlinks inside are unlinked, never
        followed: ``shutil.rmtree`` with ``dir_fd``); already gone is fine.
        """
        parent = self.open_dir(parts[:-1], what)
        if parent is None:
            return
        try:
            st = _lstat(parent, parts[-1])
            if st is None:
                return
            if stat.S_ISLNK(st.st_mode):
                raise self._symlink_refusal(what, parts)
            if not stat.S_ISDIR(st.st_mode):
                raise self.refuse(what, f"{rel(parts)!r} is not a directory")
            shutil.rmtree(parts[-1], dir_fd=parent)
        finally:
            os.close(parent)

    def _parent(self, parts: Parts, what: str, *, create: bool = True) -> int:
        parent = self.open_dir(parts[:-1], what, create=create)
        if parent is None:
            raise self.refuse(what, f"no such directory {rel(parts[:-1])!r}")
        return parent

    def _existing(self, parent: int, parts: Parts, what: str) -> os.stat_result | None:
        """The regular file at ``parts`` in ``parent``, None if missing; anything else is refused."""
        st = _lstat(parent, parts[-1])
        if st is None or stat.S_ISREG(st.st_mode):
            return st
        if stat.S_ISLNK(st.st_mode):
            raise self._symlink_refusal(what, parts)
        if stat.S_ISDIR(st.st_mode):
            raise self.refuse(what, f"{rel(parts)!r} is a directory")
        raise self.refuse(what, f"{rel(parts)!r} is not a regular file")


def _lstat(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _unlink_quietly(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


def input_variables(node_input: Any) -> dict[str, Any]:
    """The template variables a node input supplies: its ``prompt_variables`` or ``variables``
    entry, or the mapping itself.
    """
    if isinstance(node_input, dict):
        for key in ("prompt_variables", "variables"):
            if isinstance(node_input.get(key), dict):
                return dict(node_input[key])
        return dict(node_input)
    if isinstance(node_input, NodeInput):
        return node_input.template_variables()
    inner = getattr(node_input, "prompt_variables", None)
    if isinstance(inner, dict):
        return dict(inner)
    return {}
