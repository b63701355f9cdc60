"""Bad parameters raise InvalidParameterError naming the field."""

import pytest

from alignment_engine import GenerationConfig, GenerationRequest, InvalidParameterError, Principle


@pytest.mark.parametrize(
    "values, field",
    [
        ({"alpha": -0.1}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"alpha": 1e38}, "alpha"),
        ({"temperature": 1e-37}, "temperature"),
        ({"seed": 2**64}, "seed"),
        ({"temperature": 0}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"max_new_tokens": 2.5}, "max_new_tokens"),
        ({"do_sample": "yes"}, "do_sample"),
        ({"seed": -1}, "seed"),
        ({"stop": [""]}, "stop"),
        ({"repetition_penalty": 0}, "repetition_penalty"),
        ({"no_repeat_ngram_size": -1}, "no_repeat_ngram_size"),
        ({"beams": 2}, "beams"),
    ],
)
def test_invalid_values_name_the_field(values, field):
    with pytest.raises(InvalidParameterError) as error:
        GenerationConfig.from_dict(values)
    assert error.value.field == field
    assert isinstance(error.value, ValueError)


def test_valid_config_round_trips():
    config = GenerationConfig.from_dict({"alpha": 3, "stop": ["\n\n"], "seed": 7, "do_sample": True})
    assert config.stop == ("\n\n",)
    assert GenerationConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [{"role": "user"}],
        [{"role": "robot", "content": "hi"}],
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        [{"role": "user", "content": "hi"}, {"role": "system", "content": "late"}, {"role": "user", "content": "x"}],
    ],
)
def test_invalid_messages(messages):
    with pytest.raises(InvalidParameterError) as error:
        GenerationRequest(messages=messages)
    assert error.value.field == "messages"


def test_invalid_principles():
    with pytest.raises(InvalidParameterError) as error:
        Principle("  ")
    assert error.value.field == "principles"
    with pytest.raises(InvalidParameterError):
        Principle("Be brief", weight=0)
