"""Reading the CLI's tables back in the end-to-end tests."""


def table(out):
    """Rows of a CLI table as lists of cells, cut at the header's column
    starts.  The CLI puts at least two spaces between columns, so a title
    may hold one space ("FREE CORES") and a cell may too ("1G (default)")."""
    lines = out.rstrip('\n').split('\n')
    head = lines[0]
    starts = [i for i, ch in enumerate(head)
              if ch != ' ' and (i == 0 or head[i - 2:i] == '  ')]
    rows = []
    for line in lines:
        cells = []
        for n, s in enumerate(starts):
            end = starts[n + 1] if n + 1 < len(starts) else len(line)
            cells.append(line[s:end].strip())
        rows.append(cells)
    return rows


def records(out):
    """A table with distinct column titles as dicts."""
    rows = table(out)
    return [dict(zip(rows[0], r)) for r in rows[1:]]
