"""The exchange format between the host and a Dana worker: msgpack with a few extension types.

Never pickle: unpickling runs code, and the host reads what an untrusted worker wrote. msgpack
decodes to data only; the extension types below carry what msgpack lacks (tuples, sets, big
ints, dates, structs, types, capability handles) and are decoded by this module's own code, so a
hostile message can at worst be malformed, which is a clean error. The same format is the unit a
remote executor ships (DESIGN §8): a scope snapshot in, a value and a delta out.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgpack

from .typespace import check_type, decode_type, encode_type
from .values import SAFE_EXCEPTIONS, Capability, Record

__all__ = ["Codec", "CodecError", "Opaque"]

_TUPLE, _SET, _FROZENSET, _STRUCT, _TYPE, _BIGINT, _TIME, _RECORD = range(1, 9)
_CAP, _OPAQUE, _COMPLEX, _EXC, _DECIMAL, _UUID = range(9, 15)
_MAX_EXT_DEPTH = 110


class CodecError(ValueError):
    """A value that cannot be encoded, or bytes that are not a well-formed message."""


@dataclass(frozen=True, slots=True)
class Opaque:
    """Something a worker held that is not data (a function, a module): only its description."""

    type_name: str
    text: str

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Codec:
    """Encodes and decodes values for one side of an exchange.

    ``struct_class(name, fields)`` gives the class a struct descriptor names on this side;
    ``export_capability(cap) -> int`` registers a capability the other side may call back and
    ``import_capability(handle, name, methods, description)`` makes this side's stand-in for one.
    ``opaque`` says whether values that are not data become Opaque descriptions (worker -> host)
    or an error (host -> worker, where the host converted everything first).
    """

    def __init__(
        self,
        struct_class: Callable[[str, list[tuple[str, Any]]], type],
        *,
        export_capability: Callable[[Capability], int] | None = None,
        import_capability: Callable[[int, str, list[str], str], Any] | None = None,
        opaque: bool = False,
        max_bytes: int = 256 << 20,
        validate_structs: bool = False,
    ):
        self.struct_class = struct_class
        self.validate_structs = validate_structs
        """Check each field of a decoded struct against its type (the host does: a worker may lie)."""
        self._depth = 0
        self.export_capability = export_capability
        self.import_capability = import_capability
        self.opaque = opaque
        self.max_bytes = max_bytes

    # ---- encoding -----------------------------------------------------------------------------
    def dumps(self, value: Any) -> bytes:
        self._depth = 0
        try:
            return msgpack.packb(value, default=self._default, strict_types=True, use_bin_type=True)
        except CodecError:
            raise
        except RecursionError:
            raise CodecError("value nested too deeply to cross the sandbox boundary") from None
        except (TypeError, ValueError, OverflowError) as exc:
            raise CodecError(str(exc)) from None

    def _pack(self, value: Any) -> bytes:
        # Every extension payload is packed by a nested packb, whose C frame stays on the stack:
        # bound the nesting so a deep value is a clean error, never a C stack overflow.
        self._depth += 1
        try:
            if self._depth > _MAX_EXT_DEPTH:
                raise CodecError(f"value nested more than {_MAX_EXT_DEPTH} levels deep")
            return msgpack.packb(value, default=self._default, strict_types=True, use_bin_type=True)
        finally:
            self._depth -= 1

    def _default(self, v: Any) -> Any:
        t = type(v)
        if t is tuple:
            return msgpack.ExtType(_TUPLE, self._pack(list(v)))
        if t is set:
            return msgpack.ExtType(_SET, self._pack(list(v)))
        if t is frozenset:
            return msgpack.ExtType(_FROZENSET, self._pack(list(v)))
        if t is int:  # beyond 64 bits
            return msgpack.ExtType(_BIGINT, str(v).encode())
        if t is bool:
            return bool(v)
        if t is complex:
            return msgpack.ExtType(_COMPLEX, self._pack([v.real, v.imag]))
        if t is Record:
            return msgpack.ExtType(_RECORD, self._pack(dict(v)))
        if isinstance(v, dict):  # ScopeDict, StateView data: plain dicts of their items
            return dict(v)
        if isinstance(v, list):
            return list(v)
        if t in (_dt.datetime, _dt.date, _dt.time):
            return msgpack.ExtType(_TIME, self._pack([t.__name__, v.isoformat()]))
        if t is _dt.timedelta:
            return msgpack.ExtType(_TIME, self._pack(["timedelta", [v.days, v.seconds, v.microseconds]]))
        if t is _dt.timezone:
            offset = v.utcoffset(None)
            return msgpack.ExtType(
                _TIME, self._pack(["timezone", [offset.days * 86400 + offset.seconds, v.tzname(None)]])
            )
        if t is Decimal:
            return msgpack.ExtType(_DECIMAL, str(v).encode())
        if t is uuid.UUID:
            return msgpack.ExtType(_UUID, v.bytes)
        if isinstance(v, Capability):
            if self.export_capability is None:
                raise TypeError(f"resource {v.name!r} cannot cross here")
            handle = self.export_capability(v)
            return msgpack.ExtType(_CAP, self._pack([handle, v.name, v.methods, v.description]))
        fields = getattr(t, "__dana_fields__", None)
        if fields is not None and hasattr(t, "__dana_types__"):
            return msgpack.ExtType(_STRUCT, self._pack([encode_type(t), [getattr(v, f) for f in fields]]))
        if isinstance(v, BaseException) and SAFE_EXCEPTIONS.get(t.__name__) is t:
            arg = v.args[0] if len(v.args) == 1 and isinstance(v.args[0], str) else str(v)
            return msgpack.ExtType(_EXC, self._pack([t.__name__, _short(arg, 4000)]))
        try:
            check_type(v, "")
        except TypeError:
            pass
        else:
            return msgpack.ExtType(_TYPE, self._pack(encode_type(v)))
        if self.opaque:
            try:
                text = repr(v)
            except Exception:
                text = f"<{t.__name__}>"
            return msgpack.ExtType(_OPAQUE, self._pack([t.__name__, _short(text)]))
        raise TypeError(f"a {t.__name__} cannot cross the sandbox boundary; only data crosses")

    # ---- decoding -----------------------------------------------------------------------------
    def loads(self, data: bytes) -> Any:
        if len(data) > self.max_bytes:
            raise CodecError(f"message of {len(data)} bytes: want at most {self.max_bytes}")
        self._depth = 0
        try:
            return self._unpack(data)
        except CodecError:
            raise
        except RecursionError:
            raise CodecError("message nested too deeply") from None
        except Exception as exc:  # malformed bytes from the other side
            raise CodecError(f"malformed message: {type(exc).__name__}: {_short(str(exc))}") from None

    def _unpack(self, data: bytes) -> Any:
        self._depth += 1
        try:
            if self._depth > _MAX_EXT_DEPTH:
                raise CodecError(f"message nested more than {_MAX_EXT_DEPTH} levels deep")
            return msgpack.unpackb(
                data,
                ext_hook=self._ext,
                strict_map_key=False,
                raw=False,
                use_list=True,
                timestamp=3,  # msgpack's own timestamp type arrives as a datetime, not a foreign object
            )
        finally:
            self._depth -= 1

    def _ext(self, code: int, data: bytes) -> Any:
        if code == _TUPLE:
            return tuple(self._unpack(data))
        if code == _SET:
            return set(self._unpack(data))
        if code == _FROZENSET:
            return frozenset(self._unpack(data))
        if code == _BIGINT:
            text = data.decode()
            if len(text) > 5000:
                raise CodecError("integer too large to cross")
            return int(text)
        if code == _COMPLEX:
            re_, im = self._unpack(data)
            return complex(float(re_), float(im))
        if code == _RECORD:
            return Record(self._unpack(data))
        if code == _TIME:
            kind, payload = self._unpack(data)
            if kind == "timedelta":
                return _dt.timedelta(days=payload[0], seconds=payload[1], microseconds=payload[2])
            if kind == "timezone":
                return _dt.timezone(_dt.timedelta(seconds=int(payload[0])), str(payload[1]))
            cls = {"datetime": _dt.datetime, "date": _dt.date, "time": _dt.time}[kind]
            return cls.fromisoformat(payload)
        if code == _DECIMAL:
            return Decimal(data.decode())
        if code == _UUID:
            return uuid.UUID(bytes=bytes(data))
        if code == _STRUCT:
            desc, values = self._unpack(data)
            cls = decode_type(desc, self.struct_class)
            fields = cls.__dana_fields__
            if len(values) != len(fields):
                raise CodecError(f"struct {cls.__name__}: got {len(values)} field values, want {len(fields)}")
            obj = object.__new__(cls)
            for name, value in zip(fields, values, strict=True):
                if self.validate_structs:
                    try:
                        value = cls.validate_field(name, value)
                    except TypeError as exc:
                        raise CodecError(f"struct {cls.__name__}: {exc}") from None
                object.__setattr__(obj, name, value)
            return obj
        if code == _TYPE:
            return decode_type(self._unpack(data), self.struct_class)
        if code == _CAP:
            handle, name, methods, description = self._unpack(data)
            if self.import_capability is None:
                raise CodecError("a resource handle cannot cross here")
            return self.import_capability(int(handle), str(name), [str(m) for m in methods], str(description))
        if code == _EXC:
            name, message = self._unpack(data)
            cls = SAFE_EXCEPTIONS.get(name, RuntimeError)
            return cls(str(message))
        if code == _OPAQUE:
            type_name, text = self._unpack(data)
            return Opaque(str(type_name), str(text))
        raise CodecError(f"unknown extension type {code}")
