"""Finite automata in native code: a transition-table loop, one table load per token.

    int64_t NAME_string(int64_t n, const int64_t *tokens);  the decision after a whole string
    int32_t NAME_step(int32_t state, int64_t token);        the state after one more token
    int64_t NAME_decision(int32_t state);                   the decision in a state

The table `next[state][token - lowest]` has a row per state plus a dead row and a column per token
value from the lowest to the highest of the alphabet; values in between that are not in the
alphabet, like tokens out of range, lead to the dead row, which leads only to itself and decides
-1. Entries are the narrowest unsigned type that numbers the states, decisions the narrowest signed
type that holds them and -1. Start state 0; the entries answer -1 for n < 0, an invalid state or a
token outside the alphabet. The kernel emitter runs the same loop over the model's fixed-length
token input, so NAME_eval agrees with NAME_string.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from nnc.automaton import INVALID, Automaton
from nnc.graph import Node

from .abi import Abi
from .kernel import I32, I64, PTR, Buffer, Kernel, counted, i64

__all__ = ["define_automaton_entries", "emit_automaton", "tables"]


def tables(automaton: Automaton) -> tuple[np.ndarray, np.ndarray, int]:
    """The transition table (states + 1 dead row, token span), the decisions (dead: -1), and the
    lowest token."""
    lowest, span = automaton.alphabet[0], automaton.alphabet[-1] - automaton.alphabet[0] + 1
    dead = automaton.states
    moves = np.full((dead + 1, span), dead, dtype=np.int64)
    for symbol, token in enumerate(automaton.alphabet):
        moves[:dead, token - lowest] = automaton.transitions[:, symbol]
    decisions = np.append(np.asarray(automaton.outputs, dtype=np.int64), INVALID)
    return moves, decisions, lowest


def _narrowest(values: np.ndarray, signed: bool) -> ir.IntType:
    low, high = int(values.min()), int(values.max())
    for bits in (8, 16, 32, 64):
        lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1)) if signed else (0, 2**bits)
        if lo <= low and high < hi:
            return ir.IntType(bits)
    raise AssertionError("64-bit values always fit")


class _Tables:
    """The automaton's tables as internal constant globals of one module, and the loop step."""

    def __init__(self, module: ir.Module, node: Node) -> None:
        automaton: Automaton = node.attrs["automaton"]
        moves, decisions, self.lowest = tables(automaton)
        self.dead, self.span = automaton.states, moves.shape[1]
        self.move_type = _narrowest(moves, signed=False)
        self.decision_type = _narrowest(decisions, signed=True)
        self.moves = _global(module, f"automaton_next_{node.name}", self.move_type, moves)
        self.decisions = _global(
            module, f"automaton_decision_{node.name}", self.decision_type, decisions
        )

    def advance(self, b: ir.IRBuilder, state: ir.Value, token: ir.Value) -> ir.Value:
        """The state after `token` (i64 lanes): the table entry, or the dead row when the token
        is outside the table's columns."""
        column = b.sub(token, i64(self.lowest))
        inside = b.icmp_unsigned("<", column, i64(self.span))
        index = b.add(b.mul(state, i64(self.span)), b.select(inside, column, i64(0)))
        entry = b.load(b.gep(self.moves, [index], source_etype=self.move_type), typ=self.move_type)
        return b.select(inside, _widen(b, entry, signed=False), i64(self.dead))

    def decide(self, b: ir.IRBuilder, state: ir.Value) -> ir.Value:
        pointer = b.gep(self.decisions, [state], source_etype=self.decision_type)
        return _widen(b, b.load(pointer, typ=self.decision_type), signed=True)


def _widen(b: ir.IRBuilder, value: ir.Value, signed: bool) -> ir.Value:
    if value.type == I64:
        return value
    return (b.sext if signed else b.zext)(value, I64)


def _global(module: ir.Module, name: str, kind: ir.IntType, values: np.ndarray) -> ir.Value:
    found = module.globals.get(name)
    if found is not None:
        return found
    array = ir.ArrayType(kind, values.size)
    table = ir.GlobalVariable(module, array, name=name)
    table.linkage, table.global_constant = "internal", True
    table.initializer = ir.Constant(array, [int(v) for v in values.reshape(-1)])
    return table


def emit_automaton(k: Kernel, node: Node) -> Buffer:
    """The decision after the fixed-length token input, per sample."""
    automaton_tables = _Tables(k.module, node)
    tokens = k.buffers[node.inputs[0]]
    length = int(np.prod(k.graph[node.inputs[0]].shape[1:]))
    state = k.scratch(I64)
    out = k.new_buffer(node)
    with k.samples():
        k.b.store(i64(0), state)
        with k.loop(length) as position:
            token = k.load(tokens, position, I64)
            k.b.store(automaton_tables.advance(k.b, k.b.load(state, typ=I64), token), state)
        k.store(out, i64(0), automaton_tables.decide(k.b, k.b.load(state, typ=I64)))
    return out


def define_automaton_entries(module: ir.Module, abi: Abi, node: Node) -> None:
    """NAME_string, NAME_step and NAME_decision for the AUTOMATON node the output is."""
    automaton_tables = _Tables(module, node)
    _define_string(module, abi.string_entry, automaton_tables)
    _define_step(module, abi.step_entry, automaton_tables)
    _define_decision(module, abi.decision_entry, automaton_tables)


def _define_string(module: ir.Module, name: str, t: _Tables) -> None:
    fn = ir.Function(module, ir.FunctionType(I64, [I64, PTR]), name)
    n, tokens = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    state = b.alloca(I64)
    b.store(i64(0), state)
    negative = b.icmp_signed("<", n, i64(0))
    with counted(fn, b, b.select(negative, i64(0), n)) as position:
        token = b.load(b.gep(tokens, [position], source_etype=I64), typ=I64)
        b.store(t.advance(b, b.load(state, typ=I64), token), state)
    b.ret(b.select(negative, i64(INVALID), t.decide(b, b.load(state, typ=I64))))


def _valid(b: ir.IRBuilder, state: ir.Value, t: _Tables) -> ir.Value:
    """0 ≤ state < states (the dead row is not a state callers hold)."""
    return b.icmp_unsigned("<", state, ir.Constant(I32, t.dead))


def _define_step(module: ir.Module, name: str, t: _Tables) -> None:
    fn = ir.Function(module, ir.FunctionType(I32, [I32, I64]), name)
    state, token = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    valid = _valid(b, state, t)
    inside = b.select(valid, b.zext(state, I64), i64(0))
    after = t.advance(b, inside, token)
    alive = b.and_(valid, b.icmp_unsigned("<", after, i64(t.dead)))
    b.ret(b.select(alive, b.trunc(after, I32), ir.Constant(I32, INVALID)))


def _define_decision(module: ir.Module, name: str, t: _Tables) -> None:
    fn = ir.Function(module, ir.FunctionType(I64, [I32]), name)
    (state,) = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    valid = _valid(b, state, t)
    decision = t.decide(b, b.select(valid, b.zext(state, I64), i64(t.dead)))
    b.ret(decision)
