"""Answer extraction against outputs that look like what 135M–1.5B models really write.

The CORPUS pins both the answer and the rule (`path`) that produced it, so a change that gets the
right letter by a looser rule fails too.
"""

from __future__ import annotations

import json

import pytest

from orch.nodes.extract import (
    Extraction,
    extract,
    extract_letter,
    extract_number,
    normalise_number,
    parse_json_tolerant,
)

ABCD = "ABCD"
A_TO_J = "ABCDEFGHIJ"
NUMBER = None  # `letters` for a numeric question


def case(text: str, letters: str | None, answer: str | None, path: str, id: str) -> object:
    return pytest.param(text, letters, answer, path, id=id)


CORPUS = [
    # --- strict JSON answer fields -------------------------------------------------------------
    case('{"answer": "B"}', ABCD, "B", "json", "json-plain"),
    case('{"reasoning": "Paris is the capital of France.", "answer": "b"}', ABCD, "B", "json", "json-lowercase"),
    case('{"answer": "(C)"}', ABCD, "C", "json", "json-parenthesised"),
    case('{"answer": "D. Berlin"}', ABCD, "D", "json", "json-letter-dot-text"),
    case('{"answer": "B) Paris"}', ABCD, "B", "json", "json-letter-paren-text"),
    case('{"answer": "Option B"}', ABCD, "B", "json", "json-option-word"),
    case('{"choice": "C"}', ABCD, "C", "json", "json-choice-key"),
    case('{"final_answer": "A", "reasoning": "Only A holds."}', ABCD, "A", "json", "json-final-answer-key"),
    case('{"Answer": "D"}', ABCD, "D", "json", "json-capitalised-key"),
    case('{"answer": "B", "final_answer": "C"}', ABCD, "C", "json", "json-final-answer-beats-answer"),
    case('{"answer": "The correct answer is C."}', ABCD, "C", "json", "json-field-holding-statement"),
    case('{"answer": "e"}', A_TO_J, "E", "json", "json-lowercase-ten-options"),
    case('{"answer": "J"}', A_TO_J, "J", "json", "json-letter-j"),
    # a present but invalid answer field is final: no falling through to the reasoning
    case('{"answer": "AB"}', ABCD, None, "none", "json-two-letters-invalid"),
    case('{"answer": "E"}', ABCD, None, "none", "json-letter-outside-options"),
    case('{"answer": "J"}', ABCD, None, "none", "json-j-with-four-options"),
    case('{"reasoning": "The answer is B.", "answer": "Paris"}', ABCD, None, "none", "json-option-text-invalid"),
    case('{"answer": null, "reasoning": "so the answer is C"}', ABCD, None, "none", "json-null-answer"),
    case('{"answer": 2}', ABCD, None, "none", "json-integer-for-letter"),
    case('{"answer": "A cell wall"}', ABCD, None, "none", "json-article-in-field"),
    # --- tolerant JSON ---------------------------------------------------------------------------
    case(
        '```json\n{"reasoning": "Mitochondria make ATP.", "answer": "C"}\n```',
        ABCD,
        "C",
        "json_tolerant",
        "fenced-json",
    ),
    case('Here is my answer:\n{"answer": "C"}\nHope this helps!', ABCD, "C", "json_tolerant", "json-in-prose"),
    case(
        '{"answer": "C", "reasoning": "The mitochondria is the powerhouse of the',
        ABCD,
        "C",
        "json_tolerant",
        "truncated-after-answer",
    ),
    case('{"answer": "D"', ABCD, "D", "json_tolerant", "truncated-before-closing-brace"),
    case('```json\n{"answer": "B"\n```', ABCD, "B", "json_tolerant", "fence-closes-unclosed-object"),
    case("{'answer': 'C'}", ABCD, "C", "json_tolerant", "python-dict-quotes"),
    case('{"answer": B}', ABCD, "B", "json_tolerant", "unquoted-value"),
    case('{"answer": "A",}', ABCD, "A", "json_tolerant", "trailing-comma"),
    case(
        'Use the format {"answer": "<letter>"}.\n{"answer": "C"}',
        ABCD,
        "C",
        "json_tolerant",
        "template-echo-then-answer",
    ),
    case(
        '{"reasoning": "He said "no" twice", "answer": "B"}',
        ABCD,
        "B",
        "json_tolerant",
        "unescaped-inner-quotes",
    ),
    # the cut comes before the answer: nothing from JSON, the text rules still apply
    case(
        '{"reasoning": "Option A is wrong because cells divide. So the answer is D", "answ',
        ABCD,
        "D",
        "answer_line",
        "truncated-before-answer-statement-inside",
    ),
    case('{"reasoning": "A cell is the basic unit of life and', ABCD, None, "none", "truncated-before-answer"),
    case('{"reasoning": "Both fit.", "answer": "B', ABCD, None, "none", "truncated-inside-answer-value"),
    case('{"reasoning": "so the answer is B"}', ABCD, "B", "answer_line", "json-without-answer-field"),
    # --- answer statements -------------------------------------------------------------------------
    case("I think A is wrong, the answer is C", ABCD, "C", "answer_line", "article-then-statement"),
    case("Answer: (B)", ABCD, "B", "answer_line", "answer-colon-parenthesised"),
    case("The answer is (C)", ABCD, "C", "answer_line", "answer-is-parenthesised"),
    case("The correct answer is C.", ABCD, "C", "answer_line", "correct-answer-is"),
    case("Final answer: **C**", ABCD, "C", "answer_line", "final-answer-bold"),
    case("**Answer:** D", ABCD, "D", "answer_line", "bold-key"),
    case("#### C", ABCD, "C", "answer_line", "hashes-letter"),
    case("Correct option: C", ABCD, "C", "answer_line", "correct-option"),
    case("Comparing them, the best choice is (A).", ABCD, "A", "answer_line", "best-choice"),
    case("The answer to this question is D.", ABCD, "D", "answer_line", "answer-to-this-question"),
    case("The answer is option D.", ABCD, "D", "answer_line", "answer-is-option"),
    case("answer: b", ABCD, "B", "answer_line", "lowercase-statement"),
    case("Answer:\nC", ABCD, "C", "answer_line", "letter-on-next-line"),
    case("Answer: A. A cell is the unit of life.", ABCD, "A", "answer_line", "letter-dot-then-prose"),
    case("The answer is A because the wall is rigid.", ABCD, "A", "answer_line", "letter-then-because"),
    case("So the answer is $\\boxed{C}$.", ABCD, "C", "answer_line", "boxed-letter"),
    case(
        "Answer: A\nWait, let me reconsider the second step.\nAnswer: D",
        ABCD,
        "D",
        "answer_line",
        "last-statement-wins",
    ),
    case("Answer: J", A_TO_J, "J", "answer_line", "letter-j-ten-options"),
    case("The answer is (I).", A_TO_J, "I", "answer_line", "letter-i-ten-options"),
    case(
        "The answer is B.\nActually no, the answer is E.",
        ABCD,
        None,
        "none",
        "last-statement-outside-options",
    ),
    case("Answer: E", ABCD, None, "none", "statement-outside-options"),
    case("Therefore, B is the correct answer.", ABCD, "B", "answer_line", "letter-claimed-correct"),
    case("So option (C) is correct.", ABCD, "C", "answer_line", "option-claimed-correct"),
    case("The answer is C. (B is correct only for plants.)", ABCD, "C", "answer_line", "key-outranks-claim"),
    case("Answer: a) Paris", ABCD, "A", "answer_line", "lowercase-a-with-paren"),
    case('{"answer": "B" "reasoning": "comma missing"}', ABCD, "B", "json_tolerant", "json-missing-comma"),
    # --- article "A" and other prose that names no option ------------------------------------------
    case("A good answer would consider the cell membrane first.", ABCD, None, "none", "article-a-prose"),
    case("A cell is the basic structural unit of all living things.", ABCD, None, "none", "article-a-sentence"),
    case("The answer is A cell wall.", ABCD, None, "none", "answer-is-article"),
    case("The answer is a bit tricky to determine.", ABCD, None, "none", "answer-is-lowercase-article"),
    case("The wrong answer is A; I am not sure about the rest.", ABCD, None, "none", "wrong-answer-is"),
    case("Let me think. A is incorrect. B is incorrect. So C.", ABCD, None, "none", "no-answer-statement"),
    case("I think the best approach is to compare the options.", A_TO_J, None, "none", "pronoun-i"),
    case("Answer: I think it's B", A_TO_J, None, "none", "pronoun-i-after-key"),
    case("A. Paris\nB. London\nC. Rome\nD. Berlin", ABCD, None, "none", "options-echoed"),
    case("A\nB\nC\nD", ABCD, None, "none", "letters-echoed"),
    case("#### A. Introduction\nCells are small.", ABCD, None, "none", "markdown-heading"),
    case("So the answer is a", ABCD, None, "none", "cut-after-lowercase-article"),
    case("The answer is A?", ABCD, None, "none", "question-not-statement"),
    case("If the answer is A, the wall would break. Let me check.", ABCD, None, "none", "hypothetical-answer"),
    case("If A is correct, the membrane would dissolve.", ABCD, None, "none", "hypothetical-claim"),
    case("Is A the correct answer? A is correct?", ABCD, None, "none", "claim-as-question"),
    case("", ABCD, None, "none", "empty"),
    case("  \n\t", ABCD, None, "none", "whitespace-only"),
    # --- bare labels -----------------------------------------------------------------------------
    case("B", ABCD, "B", "bare", "bare-letter"),
    case("b", ABCD, "B", "bare", "bare-lowercase"),
    case("(B)", ABCD, "B", "bare", "bare-parenthesised"),
    case("B.", ABCD, "B", "bare", "bare-dot"),
    case("B) Paris", ABCD, "B", "bare", "bare-with-option-text"),
    case("**B**", ABCD, "B", "bare", "bare-bold"),
    case("  A\n", ABCD, "A", "bare", "bare-a-alone-is-option"),
    case("B\n\nExplanation: Paris is the capital of France.", ABCD, "B", "bare", "bare-then-explanation"),
    case("J) None of the above", A_TO_J, "J", "bare", "bare-j"),
    case("A: The mitochondria.", ABCD, "A", "bare", "bare-colon"),
    case("E", ABCD, None, "none", "bare-outside-options"),
    case("I", ABCD, None, "none", "bare-i-four-options"),
    # --- numbers -----------------------------------------------------------------------------------
    case("#### 72", NUMBER, "72", "answer_line", "gsm8k-hashes"),
    case(
        "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May.\n#### 72",
        NUMBER,
        "72",
        "answer_line",
        "gsm8k-chain-of-thought",
    ),
    case("#### 1,234", NUMBER, "1234", "answer_line", "hashes-thousands"),
    case("The answer is 1,234.", NUMBER, "1234", "answer_line", "answer-is-thousands"),
    case("So the answer is -3.5", NUMBER, "-3.5", "answer_line", "answer-is-negative-decimal"),
    case("Final answer: $12", NUMBER, "12", "answer_line", "final-answer-currency"),
    case("Final answer: $12.50", NUMBER, "12.5", "answer_line", "currency-trailing-zero"),
    case("The answer is 50%.", NUMBER, "50", "answer_line", "percent"),
    case("#### 12.0", NUMBER, "12", "answer_line", "trailing-point-zero"),
    case("answer: -0", NUMBER, "0", "answer_line", "negative-zero"),
    case("The answer is 5 + 3 = 8.", NUMBER, "8", "answer_line", "statement-with-expression"),
    case("The answer is \\boxed{18}.", NUMBER, "18", "answer_line", "boxed-number"),
    case(
        "Final Answer: The final answer is $18$. I hope it is correct.",
        NUMBER,
        "18",
        "answer_line",
        "minerva-ending",
    ),
    case("Answer: 3\nWait, I forgot the tax.\nAnswer: 4", NUMBER, "4", "answer_line", "last-number-statement"),
    case("She has 5 + 3 = 8 apples left.", NUMBER, "8", "last_number", "cot-last-number"),
    case("So the total cost is $1,200.", NUMBER, "1200", "last_number", "last-number-currency"),
    case("The low was -5 degrees and by noon it was −2", NUMBER, "-2", "last_number", "unicode-minus"),
    case("He pays 10-3 dollars, which is 7", NUMBER, "7", "last_number", "hyphen-is-not-sign"),
    case("The answer is 3/4 of the cake, which is 6 slices.", NUMBER, "6", "last_number", "fraction-is-no-answer"),
    case("#### 1. Totals\nWe add 3 and 4 to get 7", NUMBER, "7", "last_number", "hashes-heading-not-answer"),
    case('{"answer": 42}', NUMBER, "42", "json", "json-int"),
    case('{"answer": 18.0}', NUMBER, "18", "json", "json-float"),
    case('{"answer": "1,234"}', NUMBER, "1234", "json", "json-numeric-string"),
    case('{"answer": "18 eggs"}', NUMBER, "18", "json", "json-number-with-unit"),
    case(
        '```json\n{"reasoning": "3 + 4 = 7", "answer": 7}\n```',
        NUMBER,
        "7",
        "json_tolerant",
        "json-fenced-number",
    ),
    case(
        '{"reasoning": "48 + 24 = 72 in total. The answer is 72.", "ans',
        NUMBER,
        "72",
        "answer_line",
        "json-truncated-before-number",
    ),
    case('{"answer": "unknown", "reasoning": "3 + 4 = 7"}', NUMBER, None, "none", "json-invalid-number"),
    case('{"answer": "3 + 15 = 18"}', NUMBER, None, "none", "json-expression-invalid"),
    case('{"answer": true}', NUMBER, None, "none", "json-bool-not-number"),
    case("There is no way to know from the question.", NUMBER, None, "none", "no-number"),
]


def test_corpus_is_large_and_ids_unique() -> None:
    ids = [param.id for param in CORPUS]
    assert len(CORPUS) >= 60
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(("text", "letters", "answer", "path"), CORPUS)
def test_corpus(text: str, letters: str | None, answer: str | None, path: str) -> None:
    got = extract(text, letters)
    assert (got.answer, got.path) == (answer, path)


@pytest.mark.parametrize(("text", "letters", "answer", "path"), CORPUS)
def test_answer_is_valid_or_none(text: str, letters: str | None, answer: str | None, path: str) -> None:
    """Whatever the rule, a letter answer is one of the options and a number is canonical."""
    got = extract(text, letters)
    if got.answer is None:
        assert got.path == "none"
    elif letters is None:
        assert normalise_number(got.answer) == got.answer
    else:
        assert got.answer in letters


# --- fields ---------------------------------------------------------------------------------------


def test_fields_of_strict_json() -> None:
    got = extract_letter('{"reasoning": "r", "answer": "B", "confidence": 0.9}', ABCD)
    assert got == Extraction("B", "json", {"reasoning": "r", "answer": "B", "confidence": 0.9})


def test_fields_kept_when_answer_is_invalid() -> None:
    assert extract_letter('{"answer": "E", "reasoning": "r"}', ABCD).fields == {
        "answer": "E",
        "reasoning": "r",
    }


def test_fields_kept_when_falling_through() -> None:
    got = extract_letter('{"reasoning": "so the answer is D", "answ', ABCD)
    assert got == Extraction("D", "answer_line", {"reasoning": "so the answer is D"})


def test_cut_answer_value_stays_in_fields_but_is_not_the_answer() -> None:
    got = extract_letter('{"answer": "B', ABCD)
    assert got == Extraction(None, "none", {"answer": "B"})


def test_fields_empty_without_json() -> None:
    assert extract_letter("Answer: C", ABCD).fields == {}


# --- letters ----------------------------------------------------------------------------------------


def test_answer_uses_the_given_letters_spelling() -> None:
    assert extract_letter("Answer: C", "abcd").answer == "c"


def test_letters_must_be_single_letters() -> None:
    with pytest.raises(ValueError, match="single letter"):
        extract_letter("Answer: A", ["A", "BB"])
    with pytest.raises(ValueError, match="single letter"):
        extract_letter("Answer: A", ["A", "1"])


def test_no_letters_means_every_letter_is_invalid() -> None:
    assert extract_letter("Answer: A", []) == Extraction(None, "none", {})


def test_dispatch() -> None:
    assert extract("Answer: 12", None) == Extraction("12", "answer_line", {})
    assert extract("Answer: C", ABCD) == Extraction("C", "answer_line", {})
    assert extract("Answer: 12", ABCD) == Extraction(None, "none", {})


# --- normalise_number ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("1,234.50", "1234.5"),
        ("-0", "0"),
        ("-0.0", "0"),
        ("12.", "12"),
        ("12.000", "12"),
        ("1200", "1200"),
        ("$12", "12"),
        ("\\$12", "12"),
        ("€ 7", "7"),
        ("-$5", "-5"),
        ("$-5", "-5"),
        ("−3", "-3"),
        ("+4", "4"),
        ("50%", "50"),
        (".5", "0.5"),
        ("007", "7"),
        (" **72** ", "72"),
        (72, "72"),
        (-3.5, "-3.5"),
        (18.0, "18"),
        (-0.0, "0"),
        (1e20, "100000000000000000000"),
        (0.1, "0.1"),
    ],
)
def test_normalise_number(raw: str | int | float, canonical: str) -> None:
    assert normalise_number(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    ["", "abc", "3/4", "1e3", "12 apples", "1,23", "--5", "-$-5", "1.2.3", True, float("nan"), float("inf")],
)
def test_normalise_number_rejects(raw: object) -> None:
    assert normalise_number(raw) is None  # type: ignore[arg-type]


def test_gold_and_prediction_compare_as_strings() -> None:
    assert normalise_number("1,234.50") == extract_number("#### 1234.5").answer == normalise_number(1234.5)


# --- parse_json_tolerant ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1, "b": [true, null]}\n```', {"a": 1, "b": [True, None]}),
        ('```\n{"a": 1}\n```', {"a": 1}),
        ('Sure! Here it is: {"a": "x"} Let me know if you need more.', {"a": "x"}),
        ('{"a": "x", "b": "the cut comes here', {"a": "x", "b": "the cut comes here"}),
        ('{"a": ["x", "y', {"a": ["x", "y"]}),
        ('{"a": {"b": {"c": 1', {"a": {"b": {"c": 1}}}),
        ('{"a": [1, 2', {"a": [1, 2]}),
        ('{"a": 1, "b"', {"a": 1}),
        ('{"a": 1, "b":', {"a": 1}),
        ('{"a": 1, "b": ', {"a": 1}),
        ('{"a": 1, "bc', {"a": 1}),
        ('{"a": 1, "b": tru', {"a": 1}),
        ('{"a": 1, "b": "x\\', {"a": 1, "b": "x"}),
        ('{"a": 1, "b": "x\\u00', {"a": 1, "b": "x"}),
        ('{"answer', {}),
        ('{"a": 1,}', {"a": 1}),
        ('{"a": [1, 2,],}', {"a": [1, 2]}),
        ('{"a": 1\n "b": 2}', {"a": 1, "b": 2}),
        ("{'a': 'it's fine', 'b': True}", {"a": "it's fine", "b": True}),
        ('{"a": "say "hi" now"}', {"a": 'say "hi" now'}),
        ('{"a": "line one\nline two"}', {"a": "line one\nline two"}),
        ('{"a": "\\u00e9\\ud83d\\ude00"}', {"a": "é😀"}),
        ('{"a": "brace } and { inside"}', {"a": "brace } and { inside"}),
        ('{"a": B) Paris}', {"a": "B) Paris"}),
        ('{"a": -2.5e1, "b": None}', {"a": -25.0, "b": None}),
        ('The set {1, 2} has two members. {"a": 1}', {"a": 1}),
        ("In LaTeX write \\frac{1}{2}.", None),
        ('{"a": 1} and then {"a": 2}', {"a": 2}),
        ('```json\n{"a": "fence ``` inside", "b": 1}\n```', {"a": "fence ``` inside", "b": 1}),
        ('{"n": ' + "1" * 5000 + "}", {"n": "1" * 5000}),
        ('{"a": 1} and then {"a": 2', {"a": 1}),
    ],
)
def test_parse_json_tolerant(text: str, expected: dict[str, object] | None) -> None:
    assert parse_json_tolerant(text) == expected


@pytest.mark.parametrize(
    "text", ["", "no json here", "[1, 2, 3]", '"just a string"', "{1: 2}", "{x}", "}{", "a set {", "{ \n"]
)
def test_parse_json_tolerant_without_object(text: str) -> None:
    assert parse_json_tolerant(text) is None


def test_parse_json_tolerant_matches_json_on_valid_input() -> None:
    obj = {"reasoning": 'quote " backslash \\ tab \t ünï', "answer": "B", "n": [1, 2.5, None, False], "o": {}}
    text = json.dumps(obj)
    assert parse_json_tolerant(text) == obj
    assert parse_json_tolerant(json.dumps(obj, indent=2)) == obj


def test_parse_json_tolerant_keeps_every_prefix_that_was_complete() -> None:
    """Cutting valid JSON anywhere never invents a member and keeps each member closed before the cut."""
    obj = {"reasoning": "cells divide", "answer": "B", "steps": ["one", "two"]}
    text = json.dumps(obj)
    assert parse_json_tolerant(text[:1]) is None  # a lone "{" is not yet an object
    for cut in range(2, len(text)):
        got = parse_json_tolerant(text[:cut])
        assert got is not None
        assert set(got) <= set(obj)
        for key, value in got.items():
            if key != list(got)[-1]:  # the last member may be the one cut mid-value
                assert value == obj[key]
        if text[:cut].endswith('"B"'):
            assert got.get("answer") == "B"


def test_deep_nesting_does_not_crash() -> None:
    assert parse_json_tolerant("{" + '"a": [' * 5000) is None
