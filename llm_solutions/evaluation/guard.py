"""Inside the sandbox: run one test of one solution so that its result cannot be forged cheaply.

Runs in the forked test process (see ``harness.py``; both files are sent to the sandbox as
one program, stdlib only).  ``run_phases`` executes the solution, the test's ``ctx`` and its
``assertion`` in one namespace and says how it went, guarding against the ways a solution
can make a failing test look passed:

* Everything the guard uses is bound, and ``ctx`` and the assertion are compiled, before
  any solution code runs, so replacing ``builtins.exec`` or ``compile`` changes nothing.
* The builtins are snapshotted first; a solution that rebinds or deletes one (``exec``,
  ``AssertionError``, ``isinstance`` ...) is reported, the originals are put back for the
  test, and the test fails with reason ``tampering``.
* Comparisons in ``assert`` statements are rewritten to go through ``Comparisons``: when a
  comparison succeeds only because an object from the solution says so (its own
  ``__eq__``, ``__lt__``, ``__contains__`` or ``__bool__`` answering for a value of another
  type, also inside lists, tuples and dicts), the test fails with reason
  ``foreign_equality``.  Objects compared with their own type (two dataclass instances,
  say) and types that inherit their comparisons from builtins (``IntEnum``) are not
  affected.
* A permanent audit hook refuses what would let the solution read or rewrite this
  process's memory: heap walks (``gc.get_objects``, ``get_referrers``, ``get_referents``),
  tracing and profiling hooks, other threads' frames, ``ctypes``, and ``/proc/*/mem``; a
  refused attempt fails the test with reason ``tampering``.

Not defended (the README says so too): code written against this guard's source can walk
up from its own frames (``f_back`` is not audited in CPython) to the guard's and rewrite
what it will report, or write a result line to the report pipe itself.
"""

import ast
import builtins
import operator
import sys
from typing import Any

_COMPARE_OPS = {
    "Eq": (operator.eq, "__eq__"),
    "NotEq": (operator.ne, "__ne__"),
    "Lt": (operator.lt, "__lt__"),
    "LtE": (operator.le, "__le__"),
    "Gt": (operator.gt, "__gt__"),
    "GtE": (operator.ge, "__ge__"),
    "In": (lambda a, b: a in b, "__contains__"),
    "NotIn": (lambda a, b: a not in b, "__contains__"),
    "Is": (operator.is_, None),
    "IsNot": (operator.is_not, None),
}
_SCAN_ITEMS = 10000  # elements of a container inspected for foreign comparisons
_SCAN_DEPTH = 20
_REFUSED_EVENTS = frozenset({
    "gc.get_objects", "gc.get_referrers", "gc.get_referents",
    "sys.settrace", "sys.setprofile", "sys._current_frames",
    "ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.cdata", "ctypes.cdata/buffer",
    "ctypes.addressof", "ctypes.string_at", "ctypes.wstring_at", "ctypes.call_function",
})


def _native(function):
    """True when a special method is implemented in C (a builtin type's own slot)."""
    return not hasattr(function, "__code__")


def _foreign_method(value, name):
    """The Python-level special method ``name`` of ``value``'s type that is not the
    standard library's (a comparison the solution wrote), or ``None``."""
    if name is None:
        return None
    kind = type(value)
    for klass in kind.__mro__:
        method = klass.__dict__.get(name)
        if method is None:
            continue
        if _native(method):
            return None
        code = getattr(method, "__code__", None)
        filename = getattr(code, "co_filename", "") if code is not None else ""
        if filename.startswith(_STDLIB):
            return None
        return klass.__name__ + "." + name
    return None


def _stdlib_prefix():
    import os

    return os.path.dirname(os.__file__) + os.sep


_STDLIB = _stdlib_prefix()


class Comparisons:
    """The comparison and truth checks the rewritten assertions call."""

    def __init__(self):
        self.suspicious = []

    def compare(self, op, left, right):
        """``left <op> right`` as Python evaluates it, noting a success the solution forged."""
        function, method = _COMPARE_OPS[op]
        result = function(left, right)
        if result and method is not None and op not in ("NotEq", "NotIn"):
            found = self._forged(op, method, left, right, 0)
            if found:
                self.suspicious.append(found)
        return result

    def truth(self, value):
        """``value`` as the condition of an ``assert``, noting a truth the solution forged."""
        if value and not isinstance(value, (bool, int, float, str, bytes, list, tuple, dict, set, frozenset)):
            for name in ("__bool__", "__len__"):
                found = _foreign_method(value, name)
                if found:
                    self.suspicious.append(found + " made a non-boolean value pass")
                    break
        return value

    def _forged(self, op, method, left, right, depth):
        if depth > _SCAN_DEPTH:
            return None
        if op == "In":
            # A container's own __contains__ is what a membership test is about; what must
            # not decide it is an element's __eq__ answering for a value of another type.
            if isinstance(right, (list, tuple, set, frozenset, dict)):
                for item in list(right)[:_SCAN_ITEMS]:
                    if type(item) is not type(left):
                        owner = _foreign_method(item, "__eq__") or _foreign_method(left, "__eq__")
                        if owner and item == left:
                            return owner + " answered for a value of another type"
            return None
        if type(left) is not type(right):
            owner = _foreign_method(left, method) or _foreign_method(right, _REFLECTED.get(method, method))
            if owner:
                return owner + " answered for a value of another type (" + type(left).__name__ + " vs " + \
                    type(right).__name__ + ")"
            return None
        if isinstance(left, (list, tuple)) and len(left) == len(right):
            for a, b in zip(left[:_SCAN_ITEMS], right[:_SCAN_ITEMS], strict=True):
                found = self._forged(op if op == "Eq" else "Eq", "__eq__", a, b, depth + 1)
                if found:
                    return found
        elif isinstance(left, dict):
            for key in list(left)[:_SCAN_ITEMS]:
                if key in right:
                    found = self._forged("Eq", "__eq__", left[key], right[key], depth + 1)
                    if found:
                        return found
        return None


_REFLECTED = {"__lt__": "__gt__", "__gt__": "__lt__", "__le__": "__ge__", "__ge__": "__le__"}


class _AssertRewriter(ast.NodeTransformer):
    """Routes comparisons and conditions inside ``assert`` statements through ``Comparisons``."""

    def __init__(self, compare_name, truth_name):
        self.compare_name = compare_name
        self.truth_name = truth_name
        self.in_assert = False

    def visit_Assert(self, node):
        self.in_assert = True
        node.test = self.visit(node.test)
        self.in_assert = False
        if not isinstance(node.test, ast.Call) or getattr(node.test.func, "id", None) != self.compare_name:
            node.test = ast.copy_location(
                ast.Call(ast.Name(self.truth_name, ast.Load()), [node.test], []), node.test
            )
        return node

    def visit_Compare(self, node):
        node = self.generic_visit(node)
        if not self.in_assert:
            return node
        if len(node.ops) == 1:
            return ast.copy_location(self._call(node.ops[0], node.left, node.comparators[0]), node)
        # A chain a < b < c: each middle operand is evaluated once, through a walrus name.
        parts = []
        left = node.left
        for index, (op, right) in enumerate(zip(node.ops, node.comparators, strict=True)):
            if index < len(node.ops) - 1:
                name = "__llm_chain_" + str(index) + "__"
                right = ast.NamedExpr(ast.Name(name, ast.Store()), right)
                parts.append(self._call(op, left, right))
                left = ast.Name(name, ast.Load())
            else:
                parts.append(self._call(op, left, right))
        return ast.copy_location(ast.BoolOp(ast.And(), parts), node)

    def _call(self, op, left, right):
        return ast.Call(
            ast.Name(self.compare_name, ast.Load()), [ast.Constant(type(op).__name__), left, right], []
        )


def compile_assertion(source, filename):
    """The assertion as a function of ``(compare, truth)``, its asserts rewritten."""
    tree = ast.parse(source, filename, "exec")
    tree = _AssertRewriter("__llm_compare__", "__llm_truth__").visit(tree)
    arguments = ast.arguments(
        posonlyargs=[], args=[ast.arg("__llm_compare__"), ast.arg("__llm_truth__")],
        kwonlyargs=[], kw_defaults=[], defaults=[],
    )
    body = tree.body or [ast.Pass()]
    function = ast.FunctionDef("__llm_assertion__", arguments, body, [], None, None)
    function.lineno, function.col_offset = 1, 0
    module = ast.Module([function], [])
    ast.fix_missing_locations(module)
    code = compile(module, filename, "exec")
    for constant in code.co_consts:
        if hasattr(constant, "co_name") and constant.co_name == "__llm_assertion__":
            return constant
    raise RuntimeError("assertion did not compile to a function")


def _audit(refused):
    def hook(event, args):
        if event in _REFUSED_EVENTS:
            refused.append(event)
            raise PermissionError(event + " is not allowed while a test runs")
        if event == "open" and args and isinstance(args[0], str) and args[0].startswith("/proc/"):
            parts = args[0].split("/")
            if len(parts) > 3 and parts[3] in ("mem", "fd", "maps", "pagemap"):
                refused.append("open " + args[0])
                raise PermissionError("opening " + args[0] + " is not allowed while a test runs")

    return hook


class _Snapshot:
    """The builtins as they were before any solution code ran.

    Built before the solution runs and using only what it bound then, so a solution that
    replaces ``vars`` or ``sorted`` cannot hide that it replaced something.
    """

    def __init__(self):
        self.namespace = vars(builtins)
        self.values = dict(self.namespace)
        self.items = self.values.items
        self.get = self.namespace.get
        self.update = self.namespace.update
        self.missing = object()

    def changed(self):
        """Names whose builtin was rebound or deleted since the snapshot."""
        return [name for name, value in self.items() if self.get(name, self.missing) is not value]

    def restore(self, names):
        self.update({name: self.values[name] for name in names})


def run_phases(sources, describe, strict=True):
    """Run code, ctx and assertion; the outcome as a dict (see the module docstring).

    ``describe(exc, phase, status, sources)`` formats an exception; ``strict=False`` (a test
    whose dataset entry says ``"strict": false``) lets the solution's own comparisons
    answer for other types.  Returned keys:
    ``status`` (passed/failed/error), ``phase``, ``exc_type``, ``message``, ``traceback``,
    ``reason`` (``tampering``/``foreign_equality`` when the guard caught something).
    """
    snapshot = _Snapshot()
    exec_ = exec
    function_type: Any = type(run_phases)
    module_type = type(sys)
    refused: list = []
    comparisons = Comparisons()
    compiled = {}
    for phase in ("code", "ctx"):
        try:
            compiled[phase] = compile(sources[phase], "<" + phase + ">", "exec")
        except BaseException as e:  # noqa: BLE001 - a syntax error is the test's outcome
            return describe(e, phase, "error", sources)
    try:
        assertion = function_type(compile_assertion(sources["assertion"], "<assertion>"), {})
    except BaseException as e:  # noqa: BLE001
        return describe(e, "assertion", "error", sources)

    module = module_type("solution")
    namespace = module.__dict__
    namespace["__builtins__"] = builtins
    # Registered so that pickle, dataclasses and typing can find the solution's classes.
    sys.modules["solution"] = module
    sys.addaudithook(_audit(refused))

    def tampered(detail):
        return {"status": "failed", "phase": "assertion", "reason": "tampering", "exc_type": "Tampering",
                "message": detail}

    # A test may change builtins on purpose (``builtins.sorted = None`` to forbid sorted());
    # what it changes in its ctx is then the state the assertion is checked against.
    test_patches_builtins = "builtins" in sources["ctx"] or "builtins" in sources["assertion"]
    for phase in ("code", "ctx", "assertion"):
        error = None
        try:
            if phase == "assertion":
                function_type(assertion.__code__, namespace)(comparisons.compare, comparisons.truth)
            else:
                exec_(compiled[phase], namespace)
        except BaseException as e:  # noqa: BLE001 - SystemExit and friends are outcomes too
            error = e
        # First of all, before anything else runs: were the builtins replaced?
        changed = snapshot.changed()
        if changed and phase == "ctx" and test_patches_builtins:
            snapshot = _Snapshot()
            changed = []
        if changed:
            # Put the real ones back (the harness still has to report), then fail the test.
            snapshot.restore(changed)
            return tampered("the solution replaced builtins: " + ", ".join(changed[:10]))
        if namespace.get("__builtins__") is not builtins:
            namespace["__builtins__"] = builtins
            return tampered("the solution replaced its __builtins__")
        if refused:
            return tampered("the solution tried " + refused[0])
        if error is not None:
            status = "failed" if isinstance(error, AssertionError) and phase == "assertion" else "error"
            try:
                return describe(error, phase, status, sources)
            except BaseException:  # noqa: BLE001 - e.g. MemoryError again while formatting
                return {"status": status, "phase": phase, "exc_type": type(error).__name__}
    if strict and comparisons.suspicious:
        return {"status": "failed", "phase": "assertion", "reason": "foreign_equality", "exc_type": "ForeignEquality",
                "message": "; ".join(comparisons.suspicious[:3])}
    return {"status": "passed", "phase": "assertion"}
