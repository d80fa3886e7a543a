"""Directives and the deterministic text: what the simulator says is a function of the prompt."""

import pytest

from simulator.script import build_script, parse_directive, thinking_for, tokens_for


def script(prompt: str, **options: object):
    return build_script(prompt, options, default_tokens=5, default_rate=0, default_ttft=0)


def test_the_default_text_never_changes():
    # Other suites and the benchmark compute answers with tokens_for: its words are a contract.
    assert tokens_for("p", 4) == ["about ", "reaches ", "a ", "Ada."]
    assert tokens_for("hi", 3) == tokens_for("hi", 3) and tokens_for("x", 0) == []


def test_thinking_is_its_own_deterministic_text():
    assert thinking_for("p", 3) == thinking_for("p", 3)
    assert thinking_for("p", 3) != tokens_for("p", 3) and thinking_for("q", 3) != thinking_for(
        "p", 3
    )
    assert len(thinking_for("p", 6)) == 6 and thinking_for("p", 6)[-1].endswith(".")


def test_a_directive_steers_one_request_and_is_not_part_of_the_prompt():
    s = script('SIM: {"n": 3, "rate": 7, "ttft": 0.5, "think": 2}\nthe question')
    assert s.tokens == tokens_for("the question", 3) and s.text == "the question"
    assert (s.rate, s.ttft, s.think, s.thinking, s.tool_calls) == (7, 0.5, 2, None, None)
    assert script("no directive").think is None
    assert script("q", num_predict=2).tokens == tokens_for("q", 2)


def test_exact_tokens_thinking_and_tool_calls():
    s = script('SIM: {"tokens": ["a", "b"], "thinking": ["t"], "tool_calls": [{"name": "f"}]}\nq')
    assert s.explicit_tokens and s.tokens == ["a", "b"] and s.thinking == ["t"]
    assert s.tool_calls == [{"name": "f", "arguments": {}}]
    assert script('SIM: {"tool_calls": []}\nq').tool_calls == []


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ('SIM: {"fault": "explode"}', "unknown fault"),
        ("SIM: [1]", "must be a JSON object"),
        ('SIM: {"tool_calls": [{"arguments": {}}]}', "tool_calls must be a list"),
        ('SIM: {"tool_calls": {"name": "f"}}', "tool_calls must be a list"),
        ('SIM: {"tool_calls": [{"name": "f", "arguments": [1]}]}', "must be a JSON object"),
    ],
)
def test_bad_directives_are_errors(line, error):
    with pytest.raises(ValueError, match=error):
        script(line + "\nq")


def test_parse_directive_leaves_other_prompts_alone():
    assert parse_directive("hello\nSIM: {}") == ({}, "hello\nSIM: {}")
