"""The C ABI as data: symbol names, signatures and metadata; codegen, header and loader all read it.

int     NAME_eval(const double *x, double *y);                  one sample, flat row-major
int     NAME_eval_batch(int64_t n, const double *x, double *y); n samples back to back
int     NAME_eval_batch_threads(int64_t n, const double *x, double *y, int32_t threads);
int     NAME_eval_f32(const float *x, float *y);                the same rows in the network's
int     NAME_eval_batch_f32(int64_t n, const float *x, float *y);   own types: _f32, _i64, _i64_f32
int     NAME_eval_batch_f32_threads(int64_t n, const float *x, float *y, int32_t threads);
const char *NAME_metadata(void);                                JSON
int64_t NAME(int64_t a, int64_t b);                             scalar form, when it exists
int     NAME_batch_i32(int64_t n, const int32_t *a, const int32_t *b, int32_t *out);
                                    column-wise, native types: _i32/_i64 or _f32/_f64
int64_t NAME_string(int64_t n, const int64_t *tokens);   an automaton: decision after a string
int32_t NAME_step(int32_t state, int64_t token);         ... the state after one more token
int64_t NAME_decision(int32_t state);                    ... the decision in a state
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nnc.errors import InputError

__all__ = [
    "ABI_VERSION",
    "C_TYPES",
    "READABLE_ABI_VERSIONS",
    "ROW_TYPES",
    "Abi",
    "AutomatonAbi",
    "ScalarArg",
    "Segment",
    "SymbolNames",
    "TensorInfo",
    "check_abi_version",
    "check_prefix",
    "prefix_from_file_name",
    "row_suffix",
]

# The version of the C interface a library exports, in its metadata ("abi_version"); it changes
# whenever a symbol's signature or the meaning of its arguments or results does. Libraries from
# before versioning carry none and have version 1; version 2 entries check the domain and return
# how many samples lay outside it (1 only ever returned 0 or a negative error).
ABI_VERSION = 2
READABLE_ABI_VERSIONS = (1, 2)  # what nnc.load can call

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_C_KEYWORDS = {
    "int",
    "double",
    "char",
    "void",
    "return",
    "if",
    "else",
    "for",
    "while",
    "const",
    "static",
    "long",
    "short",
    "float",
    "signed",
    "unsigned",
    "struct",
    "union",
}


def check_prefix(prefix: str) -> str:
    """A valid C identifier to prefix every exported symbol, or an InputError saying why not."""
    if not _IDENTIFIER.match(prefix) or prefix in _C_KEYWORDS:
        raise InputError(
            f"{prefix!r} cannot name the library's C functions",
            hint="pass --name with a C identifier (letters, digits, '_', not starting with a "
            "digit), e.g. --name modadd",
        )
    return prefix


def check_abi_version(metadata: dict[str, Any], where: str) -> None:
    """Refuse a library whose interface this nnc cannot call, saying which nnc built it."""
    version = metadata.get("abi_version", 1)
    if version not in READABLE_ABI_VERSIONS:
        raise InputError(
            f"{where} was built by nnc {metadata.get('nnc_version', '(unknown)')} with C interface "
            f"version {version}; this nnc calls versions {', '.join(map(str, READABLE_ABI_VERSIONS))}",
            hint="compile the model again with this nnc, or load the library with the nnc that "
            "built it",
        )


def prefix_from_file_name(path_name: str) -> str:
    """The symbol prefix a library file name implies: its stem (up to the first dot) with every
    character that a C identifier cannot hold replaced by '_' (`my-model.so` → `my_model`), a
    leading '_' before a digit, a trailing '_' after a C keyword."""
    stem = path_name.split(".")[0]
    prefix = re.sub(r"[^A-Za-z0-9_]", "_", stem) or "model"
    if prefix[0].isdigit():
        prefix = "_" + prefix
    return prefix + "_" if prefix in _C_KEYWORDS else prefix


@dataclass(frozen=True)
class TensorInfo:
    """Per-sample shape and dtype of one input or of the output."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class ScalarArg:
    """One parameter of the scalar entry point: an input element and where it goes in x."""

    name: str
    position: int
    integer: bool

    @property
    def c_type(self) -> str:
        """Its parameter type in the scalar form."""
        return "int64_t" if self.integer else "double"


@dataclass(frozen=True)
class SymbolNames:
    """The exported symbol names of a library with this prefix: the one place they are spelled."""

    prefix: str

    @property
    def eval(self) -> str:
        return f"{self.prefix}_eval"

    @property
    def eval_batch(self) -> str:
        return f"{self.prefix}_eval_batch"

    @property
    def metadata_symbol(self) -> str:
        return f"{self.prefix}_metadata"

    def column_entry(self, suffix: str) -> str:
        return f"{self.prefix}_batch_{suffix}"

    def typed_eval(self, suffix: str) -> str:
        return f"{self.prefix}_eval_{suffix}"

    def typed_eval_batch(self, suffix: str) -> str:
        return f"{self.prefix}_eval_batch_{suffix}"

    @staticmethod
    def threaded(batch_entry: str) -> str:
        """The threaded twin of a batch entry: one more argument, the thread count."""
        return f"{batch_entry}_threads"

    @property
    def string_entry(self) -> str:
        return f"{self.prefix}_string"

    @property
    def step_entry(self) -> str:
        return f"{self.prefix}_step"

    @property
    def decision_entry(self) -> str:
        return f"{self.prefix}_decision"

    def exports(
        self,
        scalar: bool,
        columns: Sequence[str],
        rows: str | None = None,
        automaton: bool = False,
    ) -> tuple[str, ...]:
        """Every function such a library exports, in the header's order: what the loader and
        `nnc show` list (a test holds it to the header's declarations)."""
        typed = self.typed_eval_batch(rows) if rows is not None else None
        return (
            self.eval,
            self.eval_batch,
            self.threaded(self.eval_batch),
            self.metadata_symbol,
            *((self.typed_eval(rows), typed, self.threaded(typed)) if typed else ()),
            *((self.prefix,) if scalar else ()),
            *(self.column_entry(suffix) for suffix in columns),
            *((self.string_entry, self.step_entry, self.decision_entry) if automaton else ()),
        )

    @property
    def inline(self) -> str:
        """The closed form as a static inline function in the header (no symbol in the .so)."""
        return f"{self.prefix}_inline"


@dataclass(frozen=True)
class Segment:
    """Input positions [start, stop) of x and the values they accept: lo..hi (whole numbers only
    when `whole`), only `values` when given, or per position lows[k]..highs[k] (calibration)."""

    start: int
    stop: int
    lo: float = -math.inf
    hi: float = math.inf
    whole: bool = False
    values: tuple[float, ...] | None = None
    lows: tuple[float, ...] | None = None
    highs: tuple[float, ...] | None = None


@dataclass(frozen=True)
class AutomatonAbi:
    """What the header says about an automaton library: its size, tokens and how far it was
    verified against the network."""

    states: int
    alphabet: tuple[int, ...]
    verified: str  # one sentence per check
    table: dict[str, Any]  # transitions, decisions (Automaton.to_json), for the metadata

    def to_json(self) -> dict[str, Any]:
        """As the metadata records it: the table (Automaton.to_json) and what was verified."""
        return {**self.table, "verified": self.verified}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AutomatonAbi:
        table = {k: v for k, v in data.items() if k != "verified"}
        return cls(int(data["states"]), tuple(data["alphabet"]), data["verified"], table)


@dataclass(frozen=True)
class Abi(SymbolNames):
    """Everything that fixes the library's interface; equal Abis give identical symbols."""

    inputs: tuple[TensorInfo, ...]
    output: TensorInfo
    output_integer: bool  # class index, boolean or integer output: int64_t in the scalar form
    scalar_args: tuple[ScalarArg, ...] | None  # None: no scalar entry point
    constants: tuple[tuple[int, float], ...]  # (position in x, value) filled by the scalar form
    metadata: dict[str, Any]
    columns: tuple[str, ...] = ()  # column-wise typed entries: "i32", "i64", "f32", "f64"
    rows: str | None = None  # typed row entries' suffix ("f32", "i64", "i64_f32"); None: none
    domain: tuple[Segment, ...] = ()  # what the entries accept (see backends/guard.py)
    outside: str = "allow"  # what they do with a sample outside it: check, clamp or allow
    automaton: AutomatonAbi | None = None  # NAME_string / _step / _decision exist

    @property
    def input_numel(self) -> int:
        return sum(t.numel for t in self.inputs)

    @property
    def row_kinds(self) -> tuple[str, str] | None:
        """The element kinds of x and y in the typed row entries ("i64_f32" → ("i64", "f32"),
        "f32" → ("f32", "f32")); None when the library has none."""
        if self.rows is None:
            return None
        x_kind, _, y_kind = self.rows.partition("_")
        return x_kind, y_kind or x_kind

    @property
    def scalar(self) -> str | None:
        return self.prefix if self.scalar_args is not None else None

    @property
    def scalar_result(self) -> str:
        """The scalar form's return type: int64_t for integer, class and boolean outputs."""
        return "int64_t" if self.output_integer else "double"

    def metadata_json(self) -> str:
        """Deterministic JSON (sorted keys) embedded in the library."""
        return json.dumps(self.metadata, sort_keys=True, separators=(",", ":"))

    def to_json(self) -> dict[str, Any]:
        """The interface as the library's metadata records it (`abi`): enough for `from_json`."""
        scalar = self.scalar_args
        return {
            "inputs": [
                {"name": i.name, "shape": list(i.shape), "dtype": i.dtype} for i in self.inputs
            ],
            "output": {"shape": list(self.output.shape), "dtype": self.output.dtype},
            "output_integer": self.output_integer,
            "scalar": None if scalar is None else [a.name for a in scalar],
            "scalar_args": None if scalar is None else [dataclasses.asdict(a) for a in scalar],
            "constants": [list(c) for c in self.constants],
            "columns": list(self.columns),
            "rows": self.rows,
            **({} if self.automaton is None else {"automaton": self.automaton.to_json()}),
        }

    @classmethod
    def from_json(cls, prefix: str, metadata: dict[str, Any]) -> Abi:
        """The Abi of a library from its metadata (as `to_json` wrote it under "abi"), all but the
        domain's segments."""
        try:
            data = metadata["abi"]
            scalar = data["scalar_args"]
            return cls(
                prefix,
                tuple(TensorInfo(i["name"], tuple(i["shape"]), i["dtype"]) for i in data["inputs"]),
                TensorInfo("y", tuple(data["output"]["shape"]), data["output"]["dtype"]),
                bool(data["output_integer"]),
                None if scalar is None else tuple(ScalarArg(**a) for a in scalar),
                tuple((int(p), float(v)) for p, v in data["constants"]),
                metadata,
                tuple(data["columns"]),
                data.get("rows"),  # None in libraries without typed rows
                # the domain's segments are not recorded: the library checks them itself, and its
                # metadata states the domain as the input specs; a library without "outside"
                # predates the check
                outside=str(metadata.get("outside", "allow")),
                automaton=(
                    AutomatonAbi.from_json(data["automaton"]) if "automaton" in data else None
                ),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(
                "the library's metadata does not describe its C interface (missing or "
                f"malformed: {error})",
                hint="rebuild the library with this version of nnc",
            ) from error


C_TYPES = {"i32": "int32_t", "i64": "int64_t", "f32": "float", "f64": "double"}
# the element types rows come in: the network's own, by dtype
ROW_TYPES = {
    "float32": "f32",
    "float16": "f32",
    "bfloat16": "f32",
    "float64": "f64",
    **{t: "i64" for t in ("int64", "int32", "int16", "int8", "uint8", "bool")},
}


def row_suffix(input_dtypes: list[str], output_dtype: str) -> str | None:
    """The suffix of the typed row entries (x in the inputs' type, y in the output's: "f32",
    "i64", or "i64_f32" when they differ); None when the inputs mix types or rows are doubles
    both ways (NAME_eval_batch already is that entry)."""
    kinds = {ROW_TYPES[d] for d in input_dtypes}
    if len(kinds) != 1:
        return None
    x, y = kinds.pop(), ROW_TYPES[output_dtype]
    if (x, y) == ("f64", "f64"):
        return None
    return x if x == y else f"{x}_{y}"
