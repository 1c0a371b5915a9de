"""Errors and signals shared by every layer of danaflow.

Every failure a user can see derives from ``DanaflowError`` and carries where it happened: a
``Location`` (file:line:col) for Dana code and templates, or a component path for flows and runs.
Control-flow signals (``DanaflowSignal``) are kept apart so ``except DanaflowError`` never eats them.

    DanaflowError
     ├── DanaSyntaxError (+ SyntaxError)        the parser or compiler refused the source
     ├── DanaRuntimeError                        uncaught error while a Dana program ran
     │    ├── DanaNameError (+ NameError)        an undefined name or scoped variable
     │    ├── SandboxError (+ PermissionError)   a refused escape attempt
     │    └── ResourceLimitError                 timeout or step budget exhausted
     ├── ReasonError                             an LLM answer that never validated
     │    ├── ToolLoopError                      a model still calling tools after max_tool_rounds
     │    └── TranscodeError                     an objective that never became a working program
     ├── LLMError                                a provider failure after retries
     │    └── ConfigurationError (+ ValueError)  a missing key or a bad model spec
     ├── TemplateError                           a bad or unresolved template reference
     ├── FlowDefinitionError                     invalid agent / flow definition
     ├── ComponentError                          a component failed at run time
     ├── RunError                                run store, resume and run-dir problems
     └── ResourceError                           tool / database resource failures
    DanaflowSignal (BaseException)
     └── InputRequired                           a node waits for input
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ComponentError",
    "ConfigurationError",
    "DanaNameError",
    "DanaRuntimeError",
    "DanaSyntaxError",
    "DanaflowError",
    "DanaflowSignal",
    "FlowDefinitionError",
    "InputRequired",
    "LLMError",
    "Location",
    "ReasonError",
    "ResourceError",
    "ResourceLimitError",
    "RunError",
    "SandboxError",
    "TemplateError",
    "ToolLoopError",
    "TranscodeError",
]


@dataclass(frozen=True, slots=True)
class Location:
    """A Location is a 1-based position in a source; 0 means unknown."""

    file: str = "<string>"
    line: int = 0
    col: int = 0
    source_line: str | None = None
    """The text of the line, for drawing a caret under ``col``."""

    def __str__(self) -> str:
        if self.line and self.col:
            return f"{self.file}:{self.line}:{self.col}"
        if self.line:
            return f"{self.file}:{self.line}"
        return self.file

    def excerpt(self) -> str:
        """The source line with a caret under the column, or '' when the line is unknown."""
        if not self.source_line:
            return ""
        text = self.source_line.rstrip("\n")
        stripped = text.lstrip()
        indent = len(text) - len(stripped)
        caret = " " * max(self.col - 1 - indent, 0) + "^" if self.col else ""
        return f"    {stripped}\n    {caret}".rstrip()


class DanaflowError(Exception):
    """The root of every danaflow error; ``where`` names the place (a Location or a component path)."""

    def __init__(self, message: str, *, location: Location | None = None, path: str | None = None):
        super().__init__(message)
        self.message = message
        self.location = location
        self.path = path

    @property
    def where(self) -> str:
        if self.location is not None:
            return str(self.location)
        return self.path or ""

    def __str__(self) -> str:
        head = f"{self.where}: {self.message}" if self.where else self.message
        if self.location is not None and (excerpt := self.location.excerpt()):
            return f"{head}\n{excerpt}"
        return head


class DanaSyntaxError(DanaflowError, SyntaxError):
    """The source does not parse, or uses a construct the compiler refuses."""

    error_type = "SyntaxError"

    def __init__(self, message: str, *, location: Location | None = None, path: str | None = None):
        DanaflowError.__init__(self, message, location=location, path=path)
        # SyntaxError's own fields, so tools that know SyntaxError still read a position.
        self.msg = message
        if location is not None:
            self.filename, self.lineno, self.offset = location.file, location.line, location.col
            self.text = location.source_line

    def __str__(self) -> str:
        head = f"SyntaxError: {self.message}"
        if self.where:
            head = f"{self.where}: {head}"
        if self.location is not None and (excerpt := self.location.excerpt()):
            return f"{head}\n{excerpt}"
        return head


class DanaRuntimeError(DanaflowError):
    """An uncaught error while a Dana program ran; ``cause`` is the original exception.

    ``error_type`` is the name users see (``ZeroDivisionError``), ``stack`` the Dana call stack
    as (function, Location) pairs, innermost last.
    """

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        path: str | None = None,
        error_type: str | None = None,
        stack: list[tuple[str, Location]] | None = None,
    ):
        super().__init__(message, location=location, path=path)
        self.error_type = error_type or type(self).__name__
        self.stack = stack or []

    def __str__(self) -> str:
        head = f"{self.error_type}: {self.message}"
        if self.where:
            head = f"{self.where}: {head}"
        if self.location is not None and (excerpt := self.location.excerpt()):
            head = f"{head}\n{excerpt}"
        if len(self.stack) > 1:
            shown = [f"  in {fn} at {loc}" for fn, loc in self.stack]
            if len(shown) > 12:
                shown = [*shown[:4], f"  ... {len(shown) - 10} more calls ...", *shown[-6:]]
            frames = "\n".join(shown)
            head = f"{head}\nDana call stack (innermost last):\n{frames}"
        return head


class DanaNameError(DanaRuntimeError, NameError):
    """A name or scoped variable that is not defined where it is read."""


class SandboxError(DanaRuntimeError, PermissionError):
    """User code tried something the sandbox refuses (private attributes, imports, builtins)."""


class ResourceLimitError(DanaRuntimeError):
    """A program ran past its wall-clock timeout or its step budget."""


class ReasonError(DanaflowError):
    """An LLM answer that could not be coerced to the desired type; ``raw`` is the last answer."""

    def __init__(self, message: str, *, raw: str | None = None, **kw):
        super().__init__(message, **kw)
        self.raw = raw


class ToolLoopError(ReasonError):
    """A model that still asked for tool calls when its ``max_tool_rounds`` were used up;
    ``calls`` are the ToolCallRecords of every call it made."""

    def __init__(self, message: str, *, calls: list | None = None, **kw):
        super().__init__(message, **kw)
        self.calls = calls or []


class TranscodeError(ReasonError):
    """The planning LLM never wrote a program that compiled and passed its dry run; ``program``
    is the last program (also ``raw``) and ``error`` that program's error."""

    def __init__(self, message: str, *, program: str | None = None, error: BaseException | None = None, **kw):
        super().__init__(message, raw=program, **kw)
        self.program = program
        self.error = error


class LLMError(DanaflowError):
    """A provider call that failed for good (after its retries)."""


class ConfigurationError(LLMError, ValueError):
    """Configuration that cannot work: a missing API key variable, an unknown model spec."""


class TemplateError(DanaflowError):
    """A template that does not parse, or a reference in it that does not resolve."""


class FlowDefinitionError(DanaflowError):
    """An invalid agent or flow definition (duplicate ids, unknown ids, cycles)."""


class ComponentError(DanaflowError):
    """A component (node, flow, agent) that failed while running; ``path`` names it."""


class RunError(DanaflowError):
    """Run store, run directory and resume problems (unknown run, bad resume path)."""


class ResourceError(DanaflowError):
    """A tool or database resource that failed or was misused."""


class DanaflowSignal(BaseException):
    """Base of control-flow signals; deliberately not an Exception so error handlers skip it."""


class InputRequired(DanaflowSignal):
    """A node asked for input nobody answered; the run pauses in ``waiting_input``."""

    def __init__(self, path: str, prompt: str | None = None):
        super().__init__(path)
        self.path = path
        self.prompt = prompt
