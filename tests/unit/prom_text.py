"""A small, independent reader of the Prometheus text exposition format for the tests
(not the code under test): {(name, frozenset(labels.items())): value}, plus the TYPE and
HELP lines and whether any sample carried a timestamp."""

import re

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def _labels(text, position):
    """Parse ``{a="x",b="y"}`` starting at text[position] == '{'; returns (dict, end)."""
    labels = {}
    position += 1
    while text[position] != "}":
        match = NAME.match(text, position)
        assert match, "label name expected at %r" % text[position:]
        name = match.group(0)
        position = match.end()
        assert text[position:position + 2] == '="', text[position:]
        position += 2
        value = []
        while text[position] != '"':
            char = text[position]
            if char == "\\":
                following = text[position + 1]
                value.append({"n": "\n", "\\": "\\", '"': '"'}[following])
                position += 2
            else:
                value.append(char)
                position += 1
        position += 1
        assert name not in labels, "label %s twice" % name
        labels[name] = "".join(value)
        if text[position] == ",":
            position += 1
    return labels, position + 1


def parse(text):
    samples = {}
    types = {}
    helps = {}
    timestamps = False
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("# TYPE "):
            name, kind = line[len("# TYPE "):].split(" ", 1)
            types[name] = kind
            continue
        if line.startswith("# HELP "):
            name, help_text = line[len("# HELP "):].split(" ", 1)
            helps[name] = help_text
            continue
        assert not line.startswith("#"), line
        match = NAME.match(line)
        name = match.group(0)
        position = match.end()
        labels = {}
        if line[position] == "{":
            labels, position = _labels(line, position)
        fields = line[position:].split()
        if len(fields) > 1:
            timestamps = True
        key = (name, frozenset(labels.items()))
        assert key not in samples, "sample twice: %r" % (key,)
        samples[key] = float(fields[0])
    return {"samples": samples, "types": types, "helps": helps, "timestamps": timestamps}


def value(parsed, name, **labels):
    return parsed["samples"][(name, frozenset(labels.items()))]


def series(parsed, name):
    """[(labels dict, value)] of one metric."""
    return [(dict(labels), val) for (metric, labels), val in parsed["samples"].items() if metric == name]
