"""Resolving model names and choosing device/dtype, without torch."""

from __future__ import annotations

import pytest

from gptoss_lab.model import ModelHandle, choose_device, choose_dtype, resolve_model


def test_nano_resolves_to_the_bundled_model_without_building_it():
    source = resolve_model("nano")
    assert source.kind == "nano"
    assert "gpt-oss-nano" in source.label


@pytest.mark.parametrize("name", ["openai/gpt-oss-20b", "openai/gpt-oss-120b"])
def test_hub_ids(name):
    assert resolve_model(name).kind == "hub"


@pytest.mark.parametrize("name", ["nope", "a/b/c", "./missing-dir"])
def test_unknown_names_say_what_to_type(name):
    with pytest.raises(FileNotFoundError, match="--model nano"):
        resolve_model(name)


def test_device_and_dtype_explain_themselves(monkeypatch):
    monkeypatch.setattr("gptoss_lab.model._cuda_visible", lambda: False)
    assert choose_device(None) == ("cpu", "no GPU found")
    assert choose_device("cuda:1")[0] == "cuda:1"
    nano, hub = resolve_model("nano"), resolve_model("openai/gpt-oss-20b")
    assert choose_dtype(None, "cpu", nano)[0] == "float32"
    assert choose_dtype(None, "cpu", hub)[0] == "bfloat16"
    assert choose_dtype(None, "cuda", nano)[0] == "bfloat16"
    assert choose_dtype("float16", "cuda", hub) == ("float16", "you asked for it")


def test_handle_is_lazy_and_says_why(monkeypatch):
    monkeypatch.setattr("gptoss_lab.model._cuda_visible", lambda: False)
    handle = ModelHandle("openai/gpt-oss-20b")
    text = handle.describe()
    assert "not loaded yet" in text
    assert "device: cpu (no GPU found)" in text
    assert "bfloat16" in text
    assert not handle.loaded


def test_unknown_quant_names_the_choices():
    with pytest.raises(ValueError, match=r"quant must be auto\|mxfp4\|bf16\|bnb-4bit\|bnb-8bit, got 'int3'"):
        ModelHandle("nano", quant="int3")
