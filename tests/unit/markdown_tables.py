"""Markdown tables of the collection's docs, parsed for the doc tests (test_docs.py,
test_defaults_doc.py): one parser, so both read a table the same way."""

import re


def split_row(line):
    """Cells of a markdown table row; an escaped pipe (``\\|``) stays in its cell."""
    cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [cell.strip().replace("\\|", "|") for cell in cells]


def tables(text):
    """Every markdown table as (header cells, [{header: cell}])."""
    found = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].startswith("|") and index + 1 < len(lines) and re.match(r"^\|[\s:|-]+\|$", lines[index + 1]):
            header = split_row(lines[index])
            rows = []
            index += 2
            while index < len(lines) and lines[index].startswith("|"):
                cells = split_row(lines[index])
                assert len(cells) == len(header), "table row with %d cells under %d headers: %s" % (
                    len(cells), len(header), lines[index])
                rows.append(dict(zip(header, cells)))
                index += 1
            found.append((header, rows))
        else:
            index += 1
    return found
