"""The mutation score per module after `mutmut run` (make mutants), and the mutants that lived.

Run from the project's root: `python -m tests.mutants_score`. Reads mutmut's own records under
mutants/. A score is caught / all, caught being killed or timed out; a mutant no test reached
counts as a survivor, since nothing would have caught it either.
"""

from __future__ import annotations

from collections import Counter

from mutmut.mutation.data import SourceFileMutationData
from mutmut.stats import status_by_exit_code
from mutmut.utils.file_utils import walk_mutatable_files

# A mutant that makes a test hang past mutmut's timeout was noticed, as a kill is.
CAUGHT = {"killed", "caught by type check", "timeout"}


def main() -> None:
    rows: list[tuple[str, Counter[str], list[str]]] = []
    for source in walk_mutatable_files():
        data = SourceFileMutationData(path=source)
        data.load()
        if not data.exit_code_by_key:
            continue
        statuses = {
            key: status_by_exit_code[code]
            for key, code in data.exit_code_by_key.items()
            if code is not None  # not checked yet: a run stopped early
        }
        if not statuses:
            continue
        lived = sorted(key for key, status in statuses.items() if status not in CAUGHT)
        rows.append((str(source), Counter(statuses.values()), lived))
    print(f"{'module':<24} {'mutants':>7} {'killed':>7} {'lived':>6} {'score':>6}")
    total = killed = 0
    for path, counts, lived in rows:
        caught = sum(counts[s] for s in CAUGHT)
        size = sum(counts.values())
        total, killed = total + size, killed + caught
        print(f"{path:<24} {size:>7} {caught:>7} {len(lived):>6} {caught / size:>6.1%}")
    if total:
        print(f"{'all':<24} {total:>7} {killed:>7} {total - killed:>6} {killed / total:>6.1%}")
    for path, counts, lived in rows:
        others = {s: n for s, n in counts.items() if s not in CAUGHT}
        if lived:
            print(f"\n{path}: {others}")
            for key in lived:
                print(f"    {key}")


if __name__ == "__main__":
    main()
