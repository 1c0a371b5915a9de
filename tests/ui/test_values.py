"""Hostile values become escaped HTML, cut with "show more", addressed by JSON pointers."""

from __future__ import annotations

import pytest

from danaflow.ui.values import PointerError, resolve_pointer, text_block, value_tree


def test_text_is_escaped_and_cut_with_a_show_more_link() -> None:
    html = str(text_block("<b>" + "x" * 3000, "/output", lambda p: f"/more?ptr={p}", limit=100))
    assert "&lt;b&gt;" in html and "<b>" not in html
    assert 'hx-get="/more?ptr=/output"' in html and "show more (2,903 more characters)" in html
    short = str(text_block("hello", "/x", lambda p: p))
    assert short == '<pre class="text">hello</pre>'
    nolink = str(text_block("y" * 50, None, None, limit=10))
    assert "40 more characters not shown" in nolink and "hx-get" not in nolink


def test_value_tree_escapes_keys_and_values_and_limits_items() -> None:
    value = {"<k>": ["<v>", 1, True, None], "many": list(range(150))}
    html = str(value_tree(value, "", lambda p: f"/m?ptr={p}", items=100))
    assert "&lt;k&gt;" in html and "<k>" not in html and "&#34;&lt;v&gt;&#34;" in html
    assert 'class="v-num">1<' in html and 'class="v-bool">true<' in html and 'class="v-null">null<' in html
    assert "show 50 more" in html and 'hx-get="/m?ptr=/many"' in html


def test_deep_values_fall_back_to_json_text() -> None:
    deep: object = "leaf"
    for _ in range(20):
        deep = [deep]
    html = str(value_tree(deep))
    assert html.count("<details") == 12 and '"leaf"' in html.replace("&#34;", '"')


def test_pointers_resolve_with_rfc6901_escapes() -> None:
    doc = {"a/b": {"~x": [10, 20]}, "": 1}
    assert resolve_pointer(doc, "/a~1b/~0x/1") == 20
    assert resolve_pointer(doc, "") is doc
    for bad in ("a", "/missing", "/a~1b/~0x/9", "/a~1b/~0x/-1"):
        with pytest.raises(PointerError):
            resolve_pointer(doc, bad)
