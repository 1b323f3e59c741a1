"""The unified social credit code (统一社会信用代码, GB 32100-2015): the enterprise's registry id.

Eighteen characters from 31 (the digits and the capitals without I, O, S, V, Z): the registration
authority, the entity type, the six-digit administrative division, the nine-character organisation
code and one check character over the first seventeen, with weights 3^(i-1) mod 31, so that one
mistyped character or two swapped neighbours are always caught. A person's registration number
never has this form: a credit code that passes is an enterprise, whatever route it is sent to.
"""

from __future__ import annotations

from keys.errors import SuishenError

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
LENGTH = 18
_VALUE = {c: i for i, c in enumerate(ALPHABET)}


class CreditCodeError(SuishenError, ValueError):
    """Not a unified social credit code; the message says what is wrong with it."""


def check_character(first17: str) -> str:
    """The 18th character of a code whose first seventeen are given (GB 32100-2015 §4.3)."""
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def credit_code_problem(code: str) -> str | None:
    """What is wrong with the text as a credit code, in words, or None when it is one."""
    if len(code) != LENGTH:
        return f"a unified social credit code has {LENGTH} characters, not {len(code)}"
    wrong = sorted({c for c in code if c not in _VALUE})
    if wrong:
        return f"a unified social credit code uses digits and capitals other than I, O, S, V, Z, not {''.join(wrong)!r}"
    if not code[2:8].isdigit():
        return "characters 3 to 8 of a unified social credit code are the six-digit division code"
    expected = check_character(code[:17])
    if code[17] != expected:
        return f"the check character {code[17]!r} of this unified social credit code is wrong: a character is mistyped"
    return None


def is_credit_code(code: str) -> bool:
    return credit_code_problem(code) is None


def require_credit_code(code: str) -> str:
    problem = credit_code_problem(code)
    if problem is not None:
        raise CreditCodeError(problem)
    return code
