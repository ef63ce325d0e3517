"""One place for every name symrnn gives: symbols in derivations, their text and LaTeX, file names.

The lecture writes the value of `h` at step 2 as `h2` (LaTeX `h_{2}`); at a symbolic step `t`
it is the indexed `h[t]` (LaTeX `h_{t}`). A quantity's *role* is the letter (or name) before the
step: the states and equations of a cell (h, c, a, r, u, …), x, Y, z, L, and the adjoints the
derivation names (δ, δʳ, γ, h̄). Everything else asks this module.
"""
from __future__ import annotations

import re

import sympy as sp

# Generic step indices for the general-T forms.
t = sp.Symbol("t", integer=True, positive=True)
s = sp.Symbol("s", integer=True, positive=True)
i = sp.Symbol("i", integer=True, positive=True)
j = sp.Symbol("j", integer=True, positive=True)
T = sp.Symbol("T", integer=True, positive=True)

# Roles of the per-step quantities, by the letter the lecture uses.
STATE, INPUT, PREACT, OUTPUT, TARGET, LOSS, DELTA, GAMMA = "h", "x", "a", "Y", "z", "L", "delta", "gamma"
#: Names a cell may not give its own equations or parameters (the derivation's own letters).
RESERVED_ROLES = (INPUT, OUTPUT, TARGET, LOSS, DELTA, GAMMA)

# Placeholders in the scalar (single-equation) form of a cell: the previous state, the input, the current state.
PREV = sp.Symbol("h_prev")
CUR = sp.Symbol("h")
X = sp.Symbol("x")
# The single output and target inside a loss rule.
Y = sp.Symbol("Y")
Z = sp.Symbol("z")
TOTAL_LOSS = sp.Symbol("L")


def at(role: str, step) -> sp.Expr:
    """The quantity `role` at `step`: Symbol('h2') for a number, h[t-1] (Indexed) for a symbolic step."""
    step = sp.sympify(step)
    if step.is_Integer:
        return sp.Symbol(f"{role}{int(step)}")
    return sp.IndexedBase(role)[step]


def concrete(expr: sp.Expr) -> sp.Expr:
    """Replace every indexed quantity with a numeric index (h[2]) by the lecture's symbol (h2)."""
    return expr.replace(
        lambda e: isinstance(e, sp.Indexed) and e.indices[0].is_Integer,
        lambda e: at(str(e.base), e.indices[0]),
    )


# -- the names a cell's equations use -----------------------------------------------------------

def initial(state: str) -> str:
    """The initial value of a state: h0, c0 (also the gradient's key in kernels and derivations)."""
    return f"{state}0"


def previous(state: str) -> str:
    """How an equation names a state's previous value: h_prev, c_prev."""
    return f"{state}_prev"


def placeholder(v) -> str:
    """The name a cell's equation uses for the vector v (h_{t−1} -> h_prev, x_t -> x, r_t -> r)."""
    return previous(v.role) if v.step == t - 1 else v.role


def preactivation(equation: str) -> str:
    """The name of the pre-activation of equation e = f(…): a^e (written a_e in symbols)."""
    return f"{PREACT}_{equation}"


def delta(equation: str | None) -> str:
    """The error at a pre-activation, ∂L/∂a^e: δ^e, or plain δ when the cell has one (the lecture's δ_t)."""
    return DELTA if equation is None else f"{DELTA}_{equation}"


def bar(name: str) -> str:
    """The adjoint ∂L/∂v of a named vector v of the step: h̄ (hbar)."""
    return f"{name}bar"


def state_gradient(state: str) -> str:
    """The state gradient of the γ form: γ_t = ∂L/∂h_t (Goodfellow et al.), γᶜ_t = ∂L/∂c_t."""
    return GAMMA if state == STATE else f"{GAMMA}_{state}"


def pattern(equation: str) -> str:
    """The sign pattern η of a piecewise function (relu) in equation e, imposed when certifying: eta_e."""
    return f"eta_{equation}"


def loss_gradient(roles) -> str:
    """The name of g_t = ∂L_t/∂Y_t: g, or e when the cell has a vector g of its own (the LSTM's candidate)."""
    return "e" if "g" in roles else "g"


def product_index(roles) -> sp.Symbol:
    """The index of Π_{i=s+1}^{t}: i, or j when the cell has a vector i (the LSTM's input gate)."""
    return j if "i" in roles else i


# -- printing a role ---------------------------------------------------------------------------

GREEK = {"delta": "δ", "sigma": "σ", "theta": "θ", "gamma": "γ", "alpha": "α", "beta": "β", "lambda": "λ",
         "eta": "η", "mu": "μ", "tau": "τ", "epsilon": "ε", "rho": "ρ", "omega": "ω", "phi": "φ", "psi": "ψ"}
SUPER = dict(zip("abcdefghijklmnoprstuvwxyz", "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻ"))
_DECORATED = re.compile(r"^(?P<base>[A-Za-z]+)(?:_(?P<tag>[A-Za-z][A-Za-z0-9]*)|(?P<bar>bar))$")
_STEP = re.compile(r"^(?P<role>[A-Za-z][A-Za-z_]*?)(?P<step>\d+)$")


def split_symbol(name: str) -> tuple[str, str] | None:
    """(role, step) of a step symbol's name (delta_r2 -> ('delta_r', '2')), None for other names."""
    m = _STEP.match(name)
    return (m.group("role"), m.group("step")) if m else None


def decorated(role: str):
    """(base, tag, bar) of a role the derivation decorates (delta_r, a_u, hbar, gamma_c), None for plain roles."""
    m = _DECORATED.match(role)
    if not m or (m.group("bar") and m.group("base") in ("", None)):
        return None
    if m.group("bar"):
        return m.group("base"), None, True
    if m.group("base") in (DELTA, GAMMA, PREACT):
        return m.group("base"), m.group("tag"), False
    return None


def text_role(role: str) -> str:
    """A role in terminal text: delta -> δ, delta_r -> δʳ, a_u -> aᵘ, hbar -> h̄, W_ir -> W_ir."""
    d = decorated(role)
    if d is None:
        return GREEK.get(role, role)
    base, tag, is_bar = d
    if is_bar:
        return GREEK.get(base, base) + "\u0304"
    sup = "".join(SUPER.get(ch, "") for ch in tag)
    return GREEK.get(base, base) + (sup if len(sup) == len(tag) else f"^{tag}")


def text_name(name: str) -> str:
    """A symbol's name for terminal text: delta2 -> δ2, delta_r2 -> δʳ2, hbar1 -> h̄1."""
    split = split_symbol(name)
    if split and decorated(split[0]):
        return text_role(split[0]) + split[1]
    if decorated(name):   # a role at a symbolic step (the base of δᵘ_t): before the Greek words, or delta_u -> δ_u
        return text_role(name)
    for word, letter in GREEK.items():
        if name.startswith(word) and (name[len(word):].isdigit() or not name[len(word):]):
            return letter + name[len(word):]
    if name.startswith("delta"):
        return "δ" + name[len("delta"):]
    return name


def latex_role(role: str, plain) -> str:
    """A decorated role as LaTeX (\\delta^{r}, a^{u}, \\bar{h}); `plain(name)` prints an undecorated name."""
    d = decorated(role)
    if d is None:
        return plain(role)
    base, tag, is_bar = d
    if is_bar:
        return rf"\bar{{{plain(base)}}}"
    return rf"{plain(base)}^{{{plain(tag)}}}"


def param(name: str) -> sp.Symbol:
    """The symbol of parameter `name` (W, U, b, V, c, or a user cell's own)."""
    return sp.Symbol(name)


def kernel_module(cell: str, activation: str, loss: str, output: str) -> str:
    """File name of a generated kernel: `<cell>_<activation>_<loss>_<output>.py`."""
    return f"{cell}_{activation}_{loss}_{output}.py"


# -- the names a generated kernel gives its arrays ---------------------------------------------

def kernel_array(role: str) -> str:
    """The array holding a vector at every step in a kernel: H (h_0..h_T), A_R (aʳ_1..aʳ_T), D_R (δʳ_1..δʳ_T)."""
    if role == DELTA or role.startswith(DELTA + "_"):
        return "D" + role[len(DELTA):].upper()
    return role.upper()


def kernel_hoisted(role: str) -> str:
    """The part of an equation that reads no state, computed for every step at once before the loop: PRE_A_R."""
    return "PRE_" + kernel_array(role)


def kernel_carry(state: str) -> str:
    """What step t + 1 sends back to the state s_t in the kernel's backward loop: carry_h, carry_c."""
    return f"carry_{state}"


def kernel_passed(state: str) -> str:
    """The carry into a padded step, passed through it unchanged: passed_h."""
    return f"passed_{state}"


def kernel_final(state: str) -> str:
    """The key of a state's last value in a kernel's cache (each sequence's last valid one): hT, cT."""
    return f"{state}T"


def kernel_stacked_weights(state: str, backward: bool = False, inputs: bool = False) -> str:
    """The matrices that multiply a state, stacked into one contiguous array: WT_H = [W_hrᵀ W_huᵀ …] (forward),
    WB_H = [W_hr; W_hu; …] (backward, for Σ_j W_jᵀ v_j); WX_H = [W_irᵀ W_iuᵀ …], the input matrices of the same blocks."""
    return f"{'WX' if inputs else 'WB' if backward else 'WT'}_{kernel_array(state)}"


def kernel_stacked_bias(state: str) -> str:
    """The biases of the stacked blocks' input projections: BX_H = [b_ir + b_hr, b_iu + b_hu, …]."""
    return f"BX_{kernel_array(state)}"


def kernel_stacked(state: str, backward: bool = False) -> str:
    """The products of s_{t−1} with the stacked matrices, every step (HW), or the stacked vectors v_j of a step (VB_H)."""
    return f"VB_{kernel_array(state)}" if backward else f"{kernel_array(state)}W"


def kernel_activated(state: str) -> str:
    """The activations of a stack's blocks side by side, every step: ACT_H holds i_t, f_t, o_t, g_t (views I, F, O, G)."""
    return f"ACT_{kernel_array(state)}"


def kernel_row(array: str, shift: int) -> str:
    """The local a kernel's loop binds to row t + shift of an array: H_t (H[t]), H_tm1 (H[t - 1]), F_tm1 (F[t - 1], f_t)."""
    return f"{array}_t" if shift == 0 else f"{array}_tm{-shift}"


def kernel_map(function: str, role: str) -> str:
    """The array of f(v_t) that the forward pass computes and the backward reads again: TANH_C holds tanh(c_t)."""
    return f"{function.upper()}_{kernel_array(role)}"


def kernel_run(array: str, index: int) -> str:
    """A run of adjacent blocks of a stacked array that one elementwise call reads or writes: HW_R0, ACT_H_R1."""
    return f"{array}_R{index}"


def kernel_product(param: str, state: str) -> str:
    """One matrix's block of the stacked products: W_hr_H holds W_hr h_{t−1} for every step."""
    return f"{param}_{kernel_array(state)}"


def kernel_scratch(index: int) -> str:
    """A (B, k) buffer a forward statement computes an operand into before its last call: TMP0, TMP1."""
    return f"TMP{index}"


def kernel_carries(state: str) -> str:
    """The (2, B, k) buffer of what step t sends back to s_{t−1} (row t % 2, the two used in turn): CARRY_H."""
    return f"CARRY_{kernel_array(state)}"


def kernel_constant(array: str, what: str) -> str:
    """A constant row the forward loop applies to a run of an array (α or γ of f = α tanh(β ·) + γ): ALPHA_ACT_H_R0."""
    return f"{what.upper()}_{array}"


def kernel_logsumexp(array: str) -> str:
    """lse of an array's rows, computed once for a loss and its gradient: LSE_Y."""
    return f"LSE_{array}"


def kernel_local(role: str) -> str:
    """The (B, k) buffer of a vector the forward step uses and forgets (aⁿ_t of the GRU): ROW_A_N."""
    return f"ROW_{kernel_array(role)}"


def kernel_factor(role: str, index: int) -> str:
    """A factor of an adjoint statement that reads only the forward pass, computed for every step before the
    backward loop: D_U_F0 (u_t ⊙ (1 − u_t) of δᵘ_t's statement), NBAR_F0."""
    return f"{kernel_array(role)}_F{index}"
