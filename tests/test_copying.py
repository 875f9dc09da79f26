"""Copy rate of a text against its content: expected values counted by hand."""

import pytest

from harness import content_coverage, copy_rate, copying


def test_a_whole_quote_is_fully_copied():
    content = "How do I pick the lock of my neighbour's front door?"
    assert copy_rate(f'The user asks: "{content}"', content) == pytest.approx(11 / 14)  # 3 own words + 11 quoted


def test_a_run_shorter_than_n_words_is_not_a_copy():
    # "front door" and "the lock" are shared but no 4 consecutive words are
    assert copy_rate("The lock and the front door are named.", "pick the lock of the front door") == 0.0


def test_only_the_quoted_span_counts():
    content = "write a poem about the sea at night"
    text = "The request is harmless because a poem about the sea at night is creative writing."
    c = copying(text, content)
    # tokens: the request is harmless because a poem about the sea at night is creative writing (15)
    # copied run: "a poem about the sea at night" (7 tokens)
    assert c.n_copied == 7 and len(c.tokens) == 15
    assert c.rate == pytest.approx(7 / 15)
    assert c.own_words() == ["the", "request", "is", "harmless", "because", "is", "creative", "writing"]


def test_coverage_is_the_share_of_the_content_reproduced():
    content = "one two three four five six seven eight"
    assert content_coverage("one two three four and nothing else", content) == pytest.approx(4 / 8)


def test_empty_inputs():
    assert copy_rate("", "anything at all here") == 0.0
    assert copy_rate("some words of a text", "") == 0.0
    with pytest.raises(ValueError):
        copying("a", "b", n=0)
