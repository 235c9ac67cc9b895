"""The expression and script sandbox that replaces SpiffWorkflow's plain eval/exec.

Conditions, timer expressions, cardinalities and lane routing are single expressions evaluated by
simpleeval with a small whitelist of functions. Script tasks are compiled with RestrictedPython and
run in a forked child process with a wall-clock timeout and an address-space limit, because an
in-process guard cannot stop ``'x' * 10**10`` or ``while True: pass`` reliably.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import resource
import select
import signal
import time
import warnings
from contextvars import ContextVar
from datetime import UTC, date, datetime
from datetime import time as clock_time
from decimal import Decimal
from functools import lru_cache
from typing import Any

import simpleeval
from RestrictedPython import compile_restricted_exec, limited_builtins, safe_builtins
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from ..workdays import LOCAL, WorkCalendar, local_date
from .data import check_safe_data, from_jsonable, to_jsonable
from .errors import ExpressionError, ScriptError, UnsafeData

# The working-day calendar the current engine call counts with (set by the service per request,
# since admins load new years into the database); the bundled official data when unset.
CALENDAR: ContextVar[WorkCalendar | None] = ContextVar("approvals_calendar", default=None)
# The moment "now" means in workdays_after: unset, the clock's; set when a timer is computed again
# (a new year loaded) as of the moment it began to wait.
NOW: ContextVar[datetime | None] = ContextVar("approvals_now", default=None)


def workdays_after(count: int) -> str:
    """The end of the ``count``-th working day after today in Shenzhen, as an ISO timestamp (timers)."""
    now = NOW.get() or datetime.now(UTC)
    deadline = (CALENDAR.get() or WorkCalendar()).add_workdays(local_date(now), int(count))
    return deadline.end_of_day_utc().isoformat()


def calendar_days_after(start: str | date, count: int) -> str:
    """The day ``count`` calendar days after ``start`` (the start day not counted), rolled forward
    to the next working day when it is a rest day (民法典 201, 203), as an ISO date: tendering periods."""
    first = date.fromisoformat(start) if isinstance(start, str) else start
    return (CALENDAR.get() or WorkCalendar()).add_calendar_days(first, int(count)).due.isoformat()


def end_of_day(day: str | date) -> str:
    """The last moment of ``day`` in Shenzhen, as an ISO timestamp: a timer that ends with a period."""
    moment = datetime.combine(
        date.fromisoformat(day) if isinstance(day, str) else day, clock_time(23, 59, 59), tzinfo=LOCAL
    )
    return moment.astimezone(UTC).isoformat()


def days_between(start: str | date, end: str | date) -> int:
    """Calendar days from ``start`` to ``end`` (ISO dates or dates), e.g. a bid deadline check."""
    first = date.fromisoformat(start) if isinstance(start, str) else start
    last = date.fromisoformat(end) if isinstance(end, str) else end
    return (last - first).days


# Budgets for one expression: a condition answers a question about a file, it never needs a huge
# number or string. int(Decimal('1e30000000')) would build a 30-million-digit integer, and a
# comprehension of long strings gigabytes; these stop such work before it starts.
MAX_DIGITS = 100
simpleeval.MAX_STRING_LENGTH = 10_000
simpleeval.MAX_COMPREHENSION_LENGTH = 1_000
simpleeval.MAX_POWER = 1_000


def _small(value: Any) -> Any:
    if isinstance(value, Decimal) and value.is_finite() and abs(value.adjusted()) > MAX_DIGITS:
        raise ExpressionError(f"the number {value:.3e} is too large for an expression")
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) >= 10**MAX_DIGITS:
        raise ExpressionError("the number is too large for an expression")
    if isinstance(value, str) and len(value) > simpleeval.MAX_STRING_LENGTH:
        raise ExpressionError("the text is too long for an expression")
    return value


def _bounded(convert: Any) -> Any:
    """``convert`` (int, float, Decimal…) on an argument of bounded size."""

    def bounded(value: Any = 0, *args: Any) -> Any:
        return _small(convert(_small(value), *args))

    bounded.__name__ = getattr(convert, "__name__", "convert")
    return bounded


# What expressions may call. Plain functions of their arguments only: nothing that reaches
# the file system, the interpreter or object internals.
FUNCTIONS: dict[str, Any] = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "round": _bounded(round),
    "int": _bounded(int),
    "float": _bounded(float),
    "str": _bounded(str),
    "bool": bool,
    "sum": sum,
    "any": any,
    "all": all,
    "sorted": sorted,
    "Decimal": _bounded(Decimal),
    "date": date.fromisoformat,
    "days_between": days_between,
    "workdays_after": workdays_after,
    "calendar_days_after": calendar_days_after,
    "end_of_day": end_of_day,
}

# The methods an expression may call: reads of text, numbers, dates, lists and dicts. Nothing that
# changes its object (``data.update(...)``, ``list.append``) or reaches elsewhere (``format`` can
# read attributes); an expression answers a question about the data, it never changes it.
METHODS = frozenset(
    {
        # str
        "upper", "lower", "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "replace",
        "find", "isdigit", "isnumeric", "isalpha", "join", "zfill",
        # dict and list reads
        "get", "keys", "values", "items", "count", "index",
        # dates and decimals
        "isoformat", "weekday", "isoweekday", "quantize", "is_finite", "to_integral_value",
    }
)  # fmt: skip

# The expression node types simpleeval evaluates (statements excluded).
_EXPRESSION_NODES = (
    ast.Attribute,
    ast.BinOp,
    ast.BoolOp,
    ast.Call,
    ast.Compare,
    ast.Constant,
    ast.Dict,
    ast.DictComp,
    ast.FormattedValue,
    ast.GeneratorExp,
    ast.IfExp,
    ast.JoinedStr,
    ast.List,
    ast.ListComp,
    ast.Name,
    ast.Set,
    ast.Slice,
    ast.Subscript,
    ast.Tuple,
    ast.UnaryOp,
)


@lru_cache(maxsize=4096)
def check_expression(expression: str, extra_functions: tuple[str, ...] = ()) -> None:
    """Refuse an expression the sandbox would not evaluate, before it is ever run.

    Cached: the answer depends only on the text, and models evaluate the same few expressions."""
    if not expression or not expression.strip():
        raise ExpressionError("the expression is empty")
    if expression.strip().startswith(("${", "#{")):
        raise ExpressionError("expressions are Python, not JUEL/EL: write amount > 1000, not ${amount > 1000}")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error: {exc.msg}") from None
    allowed_calls = set(FUNCTIONS) | set(extra_functions)
    for node in ast.walk(tree):
        if isinstance(node, ast.expr) and not isinstance(node, _EXPRESSION_NODES):
            raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ExpressionError(f"name {node.id!r} is not allowed (names may not start with '_')")
        if isinstance(node, ast.Attribute) and (node.attr.startswith("_") or node.attr in simpleeval.DISALLOW_METHODS):
            raise ExpressionError(f"attribute {node.attr!r} is not allowed")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in allowed_calls:
            raise ExpressionError(
                f"function {node.func.id!r} is not allowed; allowed: {', '.join(sorted(allowed_calls))}"
            )
    # Then what may be called, once every part is known to be allowed (so a refusal names the
    # worst part: '__subclasses__' rather than "a method").
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr not in METHODS:
            raise ExpressionError(
                f"method {node.func.attr!r} is not allowed; expressions may only read: {', '.join(sorted(METHODS))}"
            )
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name | ast.Attribute):
            raise ExpressionError("only named functions and methods may be called")


# A multi-instance step opens this many at most: 10**9 would build a billion tasks in one request.
MAX_INSTANCES = 500


def check_cardinality(value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_INSTANCES:
        raise ExpressionError(
            f"a multi-instance cardinality must be a whole number from 0 to {MAX_INSTANCES}, not {value!r}"
        )


def evaluate(expression: str, names: dict[str, Any], functions: dict[str, Any] | None = None) -> Any:
    """Evaluate one expression against task data with simpleeval."""
    evaluator = simpleeval.EvalWithCompoundTypes(
        functions={**FUNCTIONS, **(functions or {})},
        names={k: v for k, v in names.items() if not k.startswith("_")},
    )
    try:
        return evaluator.eval(expression.strip())
    except simpleeval.InvalidExpression as exc:
        raise ExpressionError(f"{expression!r}: {exc}") from None
    except Exception as exc:  # any failure inside the model's expression is the model's error
        raise ExpressionError(f"{expression!r}: {type(exc).__name__}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Scripts


def check_script(script: str) -> None:
    """Refuse a script RestrictedPython will not compile, or one that imports anything."""
    try:
        tree = ast.parse(script)
    except SyntaxError as exc:
        raise ScriptError(f"syntax error on line {exc.lineno}: {exc.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            raise ScriptError(f"line {node.lineno}: imports are not allowed in scripts")
    result = compile_restricted_exec(script, filename="<script>")
    if result.errors:
        raise ScriptError("; ".join(result.errors))


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    ops = {
        "+=": lambda a, b: a + b,
        "-=": lambda a, b: a - b,
        "*=": lambda a, b: a * b,
        "/=": lambda a, b: a / b,
        "//=": lambda a, b: a // b,
        "%=": lambda a, b: a % b,
    }
    if op not in ops:
        raise ScriptError(f"operator {op} is not allowed")
    return ops[op](x, y)


_SCRIPT_BUILTINS = {
    **safe_builtins,
    **limited_builtins,
    **{name: fn for name, fn in FUNCTIONS.items()},
    "dict": dict,
    "enumerate": enumerate,
    "zip": zip,
    "set": set,
    "reversed": reversed,
}


def _script_globals(data: dict[str, Any]) -> dict[str, Any]:
    # Guards are set after the data so that task data can never replace them (or __builtins__).
    scope = {k: v for k, v in data.items() if not k.startswith("_")}
    scope.update(
        {
            "__builtins__": _SCRIPT_BUILTINS,
            "__name__": "script",
            "__metaclass__": type,
            "_getattr_": safer_getattr,
            "_getitem_": default_guarded_getitem,
            "_getiter_": default_guarded_getiter,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_write_": full_write_guard,
            "_inplacevar_": _inplacevar,
        }
    )
    return scope


def _script_result(scope: dict[str, Any]) -> dict[str, Any]:
    result = {}
    for key, value in scope.items():
        if key.startswith("_") or callable(value) or isinstance(value, type):
            continue
        result[key] = value
    return result


def _child(code: Any, data: dict[str, Any], memory_bytes: int, write_fd: int) -> None:  # pragma: no cover - child
    # Runs in the forked child: limit memory beyond what the parent already maps, run, report.
    try:
        with open("/proc/self/statm") as statm:
            mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (mapped + memory_bytes, mapped + memory_bytes))
        scope = _script_globals(data)
        exec(code, scope)  # noqa: S102 - RestrictedPython-compiled code with guarded globals
        payload = {"ok": True, "data": to_jsonable(_script_result(scope))}
    except MemoryError:
        payload = {"ok": False, "error": "the script used more memory than allowed"}
    except BaseException as exc:  # report every failure to the parent, which decides
        payload = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    try:
        out = json.dumps(payload).encode()
    except (TypeError, ValueError) as exc:
        out = json.dumps({"ok": False, "error": f"the script produced data that cannot be stored: {exc}"}).encode()
    view = memoryview(out)
    while view:
        written = os.write(write_fd, view)
        view = view[written:]
    os._exit(0)


MAX_SCRIPT_OUTPUT = 8 * 1024 * 1024


def run_script(script: str, data: dict[str, Any], *, timeout: float, memory_bytes: int) -> dict[str, Any]:
    """Run a script task's code on a copy of ``data`` and return the data it leaves behind."""
    check_script(script)
    code = compile_restricted_exec(script, filename="<script>").code
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in threaded processes; the child only runs the
        # restricted code and os._exit()s, touching no lock the parent's threads may hold.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(read_fd)
        _child(code, data, memory_bytes, write_fd)
    os.close(write_fd)
    chunks: list[bytes] = []
    size = 0
    try:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ScriptError(f"the script ran longer than {timeout:g} s and was stopped")
            ready, _, _ = select.select([read_fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_SCRIPT_OUTPUT:
                raise ScriptError("the script produced more data than allowed")
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    try:
        payload = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        raise ScriptError("the script stopped without a result") from None
    if not payload.get("ok"):
        raise ScriptError(payload.get("error") or "the script stopped without a result")
    result: dict[str, Any] = from_jsonable(payload["data"])
    try:
        check_safe_data(result)
    except UnsafeData as exc:
        raise ScriptError(f"the script produced data that cannot be stored: {exc}") from None
    return result


class SandboxEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]  # SpiffWorkflow ships no type information
    """SpiffWorkflow's script environment, with eval/exec replaced by the sandbox above."""

    def __init__(
        self,
        *,
        script_timeout: float = 1.0,
        script_memory_bytes: int = 256 * 1024 * 1024,
        functions: dict[str, Any] | None = None,
        cardinalities: frozenset[str] = frozenset(),
    ):
        super().__init__({})
        self.script_timeout = script_timeout
        self.script_memory_bytes = script_memory_bytes
        self.functions = functions or {}
        self.cardinalities = cardinalities  # the model's loopCardinality expressions

    def evaluate(self, expression: Any, context: Any, external_context: Any = None) -> Any:
        check_expression(expression, tuple(self.functions))
        # ``data`` names the whole process data, for fields that may be missing: data.get('x').
        # The expression sees a copy: whatever it calls, the process data stays as it was.
        local, outer = copy.deepcopy(context), copy.deepcopy(external_context or {})
        value = evaluate(expression, {"data": local, **outer, **local}, self.functions)
        if expression in self.cardinalities:
            check_cardinality(value)
        return value

    def execute(self, script: Any, context: Any, external_context: Any = None) -> Any:
        data = {**(external_context or {}), **context}
        result = run_script(script, data, timeout=self.script_timeout, memory_bytes=self.script_memory_bytes)
        context.clear()
        context.update(result)
        return True

    def call_service(self, context: Any, **kwargs: Any) -> Any:
        raise ScriptError("service tasks are not supported")
