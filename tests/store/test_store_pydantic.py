"""A pydantic model as a Store's schema: each write is validated against its field's type."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from pocketflow_ext import Store, StoreTypeError, StoreValidationError, Unserialisable

pydantic = pytest.importorskip("pydantic")


class Article(pydantic.BaseModel):
    title: str
    words: int = 0
    tags: list[str] = []
    score: float | None = None
    rank: int = pydantic.Field(default=1, gt=0)


class Client:
    """An arbitrary class a model may hold (an SDK client, an array)."""


class WithClient(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    client: Client


def test_writes_matching_the_fields_are_stored_as_written() -> None:
    store = Store(schema=Article)
    tags = ["a", "b"]
    store.update(title="otters", words=3, score=1)  # int for a float field, as pydantic allows
    store["tags"] = tags
    store["score"] = None
    assert store == {"title": "otters", "words": 3, "tags": ["a", "b"], "score": None}
    assert store["tags"] is tags  # validated, not replaced by pydantic's copy


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("words", "3", "expects int"),  # no coercion: the store keeps types exact
        ("words", True, "expects int"),
        ("tags", ["a", 1], r"expects list\[str\]"),
        ("title", None, "expects str"),
        ("rank", 0, "greater than 0"),  # Field constraints apply too
    ],
)
def test_a_write_that_does_not_fit_its_field_names_key_type_and_value(key, value, expected) -> None:
    store = Store({"title": "t"}, schema=Article, name="news")
    with pytest.raises(StoreTypeError, match=expected) as caught:
        store[key] = value
    message = str(caught.value)
    assert f"'{key}'" in message and "'news'" in message and repr(value)[:10] in message
    assert "Article" in message and isinstance(caught.value, TypeError)
    assert key not in store or store[key] != value


def test_every_write_path_validates_against_the_model() -> None:
    store = Store({"title": "t"}, schema=Article)
    for write in (
        lambda: store.update(words="x"),
        lambda: store.__ior__({"words": "x"}),
        lambda: store.setdefault("words", "x"),
    ):
        with pytest.raises(StoreTypeError, match="'words'"):
            write()
    assert store == {"title": "t"}


def test_initial_data_is_validated() -> None:
    with pytest.raises(StoreTypeError, match="'title'"):
        Store({"title": 3}, schema=Article)


def test_keys_outside_the_model_accept_any_value() -> None:
    store = Store(schema=Article)
    store["scratch"] = object()
    assert "scratch" in store


def test_arbitrary_classes_are_checked_with_isinstance() -> None:
    store = Store(schema=WithClient)
    store["client"] = Client()
    with pytest.raises(StoreTypeError, match="expects Client"):
        store["client"] = "not a client"


def test_an_unserialisable_marker_may_stand_in_for_a_field() -> None:
    store = Store(schema=WithClient)
    store["client"] = Unserialisable("Client", "<Client>")  # what a restored checkpoint holds
    assert isinstance(store["client"], Unserialisable)


def test_validate_requires_the_models_required_fields_only() -> None:
    store = Store(schema=Article, name="news")
    with pytest.raises(StoreValidationError, match="'title'") as caught:
        store.validate()
    assert "'words'" not in str(caught.value)  # has a default
    store["title"] = "t"
    assert store.validate() is store


def test_schema_reports_the_model_and_survives_copy_and_pickle() -> None:
    store = Store({"title": "t"}, schema=Article)
    assert store.schema is Article
    for clone in (store.copy(), pickle.loads(pickle.dumps(store))):
        assert clone.schema is Article
        with pytest.raises(StoreTypeError):
            clone["words"] = "x"


def test_a_class_that_is_not_a_model_is_refused_with_the_fix() -> None:
    class Plain:
        title: str

    with pytest.raises(TypeError, match="pydantic BaseModel subclass"):
        Store(schema=Plain)


def test_the_core_does_not_import_pydantic_for_a_dict_schema() -> None:
    code = (
        "import sys; from pocketflow_ext import Store, Flow, Node; "
        "s = Store({'n': 1}, schema={'n': int}); s['n'] = 2; s.snapshot; "
        "print('pydantic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_field_whose_type_is_not_defined_yet_is_named_when_the_store_is_made() -> None:
    class Draft(pydantic.BaseModel):
        review: Review  # noqa: F821 - a string annotation here; never defined

    with pytest.raises(TypeError, match=r"(?s)field 'review'.*model_rebuild\(\)"):
        Store(schema=Draft)
