"""Filling a commented TOML example with tomlkit: values in, every comment kept."""

import tomllib

import pytest

from morrow.agent.commands.init import template
from morrow.agent.commands.template import Edit, TemplateError, fill

EXAMPLE = """\
# An example.
[server]
host = "example.com"      # where it runs
# port = 8080             # the port (default 80)
# mode = "fast"

# [server.tls]            # optional
# cert = "cert.pem"       # the certificate
# key = "key.pem"

[[clients]]
name = "first"            # the first client
# token_env = "FIRST"     # its token

[[clients]]
name = "second"           # another

# [[clients]]
# name = "third"
# token_env = "THIRD"     # not this one
"""


def test_an_empty_edit_gives_the_text_back_byte_for_byte():
    assert fill(EXAMPLE, {}) == EXAMPLE
    assert fill(template(), {}) == template()


def test_keys_are_set_uncommented_and_dropped_with_their_comments_lined_up():
    out = fill(
        EXAMPLE,
        {"server": Edit(set={"host": "a.example.org", "port": 443}, drop=frozenset({"mode"}))},
    )
    assert 'host = "a.example.org"    # where it runs\n' in out
    assert "port = 443                # the port (default 80)\n" in out
    assert '# mode = "fast"\n' in out  # already commented out: left as it is
    assert tomllib.loads(out)["server"] == {"host": "a.example.org", "port": 443}
    dropped = fill(EXAMPLE, {"server": Edit(drop=frozenset({"host"}))})
    assert '# host = "example.com"    # where it runs\n' in dropped


def test_a_commented_block_becomes_its_table():
    out = fill(EXAMPLE, {"server": Edit(tables={"tls": Edit(set={"cert": "/etc/c.pem"})})})
    assert (
        '[server.tls]              # optional\ncert = "/etc/c.pem"       # the certificate\n'
        in (out)
    )
    assert '# key = "key.pem"' in out
    assert tomllib.loads(out)["server"]["tls"] == {"cert": "/etc/c.pem"}


def test_the_first_of_an_array_is_edited_and_the_others_become_comments():
    out = fill(EXAMPLE, {"clients": Edit(set={"token_env": "MINE"})})
    clients = tomllib.loads(out)["clients"]
    assert clients == [{"name": "first", "token_env": "MINE"}]
    assert '# [[clients]]\n# name = "second"' in out
    assert '# token_env = "THIRD"     # not this one' in out  # a commented block keeps its keys


def test_a_key_in_a_commented_array_block_is_not_taken_for_the_tables_own():
    text = '[[clients]]\nname = "first"\n\n# [[clients]]\n# token_env = "OTHER"\n'
    out = fill(text, {"clients": Edit(set={"token_env": "MINE"})})
    assert out.endswith(
        'name = "first"\ntoken_env = "MINE"\n\n# [[clients]]\n# token_env = "OTHER"\n'
    )


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        ({"nowhere": Edit(set={"a": 1})}, r"no \[nowhere\] table"),
        ({"server": Edit(tables={"ssh": Edit()})}, r"no \[server.ssh\] to fill in"),
    ],
)
def test_what_the_example_lacks_is_an_error(edits, message):
    with pytest.raises(TemplateError, match=message):
        fill(EXAMPLE, edits)


def test_a_key_missing_altogether_goes_at_the_end_of_a_plain_table():
    out = fill("[a]\nx = 1  # one\n\n[b]\ny = 2\n", {"a": Edit(set={"z": "new"})})
    assert tomllib.loads(out) == {"a": {"x": 1, "z": "new"}, "b": {"y": 2}}
