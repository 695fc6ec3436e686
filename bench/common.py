"""What every benchmark records next to its numbers: date, command, commit, machine, load, versions."""

from __future__ import annotations

import ast
import json
import os
import platform
import re
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = REPO / ".." / "shared" / "datasets"
RESULTS = REPO / "bench" / "results"  # each benchmark's JSON (not in git: the machine's own measurements)
# what the scripts that publish docs/results.md keep of every run behind a published table (in git: a new checkout
# or machine, without the run directories, still has them)
RECORDS = REPO / "bench" / "records"


def _cpuinfo_field(name: str) -> str | None:
    """The value of the first `name : value` line of Linux's /proc/cpuinfo; None where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _cpu_model() -> str | None:
    return _cpuinfo_field("model name") or platform.processor() or None


VECTOR_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")  # what fp32 / int8 / bf16 speed hangs on


def _cpu_vector_flags() -> list[str] | None:
    """The CPU's `VECTOR_FLAGS`; None where unknown. bf16 on a CPU without avx512_bf16 or amx_bf16 is emulated
    and many times slower than fp32."""
    flags = _cpuinfo_field("flags")
    return None if flags is None else [flag for flag in VECTOR_FLAGS if flag in flags.split()]


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def environment(packages: tuple[str, ...] = ("kgreason",)) -> dict:
    """The run's context, for the JSON next to the numbers."""
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(sys.orig_argv),
        "cwd": os.getcwd(),
        "git": _git_commit(),
        "machine": {
            "cpu_count": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "cpu_model": _cpu_model(),
            "cpu_vector_flags": _cpu_vector_flags(),
            "memory_bytes": _memory_bytes(),
            "platform": platform.platform(),
        },
        "load_average": os.getloadavg(),  # other work on the machine skews the wall times
        "python": sys.version,
        "packages": {name: _package_version(name) for name in packages},
    }


def write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def publish_section(found: dict, render, args, start: str, end: str, *, drop_missing: bool = False) -> bool:
    """Print `render(found, args)`, a results section that begins with the marker `start` and ends with `end`,
    and put it in place of the text between those markers in docs/results.md (or at its end); False (and nothing
    written) when `found` has no run.

    Subsections (`### name: ...`) of the section in place whose name the new one lacks are kept, in their
    place: a run on a machine that does not hold the earlier run directories adds its experiments without
    dropping the others. An experiment that is rendered again shows only the runs found now, so where its
    published table (its `Seeds: {variant: [seed, ...]}` line) shows a run that `found` lacks, nothing is written
    and False returned, unless `drop_missing`.
    """
    if not found:
        print(f"no finished runs under {args.runs}")
        return False
    section = render(found, args)
    path = REPO / "docs" / "results.md"
    text = path.read_text(encoding="utf-8")
    if start in text:
        before, rest = text.split(start, 1)
        old, after = rest.split(end, 1)
        new = section.removeprefix(start).removesuffix(end)
        dropped = _dropped_runs(old, new)
        if dropped and not drop_missing:
            print(f"{path}: the published tables show runs that this rewrite lacks (not under {args.runs}): "
                  f"{'; '.join(dropped)}. Nothing written: pass the --runs that holds them, rerun them, or pass "
                  "--drop-missing to publish the tables without them.", file=sys.stderr)
            return False
        section = start + _merge_subsections(old, new) + end
        text = before + section + after
    else:
        text = f"{text}\n{section}\n"
    print(section)
    path.write_text(text, encoding="utf-8")
    return True


def _merge_subsections(old: str, new: str) -> str:
    """`new`'s text before its first `### ` heading, then the subsections of `old` (each replaced by `new`'s of the
    same name where it has one), then `new`'s other subsections."""
    _, old_parts = _subsections(old)
    head, new_parts = _subsections(new)
    merged = {name: new_parts.get(name, part) for name, part in old_parts.items()} | new_parts
    return head + "".join(merged.values())


def _dropped_runs(old: str, new: str) -> list[str]:
    """ "<subsection>: <variant> seed(s) ..." for each run that a subsection of the `old` section text shows (its
    `Seeds:` line) and the same subsection of `new` does not (the text before the first heading counts as one)."""
    old_head, old_parts = _subsections(old)
    new_head, new_parts = _subsections(new)
    rendered_again = [(name, part, new_parts[name]) for name, part in old_parts.items() if name in new_parts]
    dropped = []
    for name, before, after in [("", old_head, new_head), *rendered_again]:
        now = _published_seeds(after)
        for variant, seeds in _published_seeds(before).items():
            if missing := sorted(seeds - now.get(variant, set())):
                dropped.append(f"{name + ': ' if name else ''}{variant} seed {', '.join(map(str, missing))}")
    return dropped


def _published_seeds(text: str) -> dict[str, set[int]]:
    """{variant: seeds} of the `Seeds: {'variant': [0, 1], ...}` lines of a results section's text."""
    seeds: dict[str, set[int]] = {}
    for listed in re.findall(r"Seeds: (\{[^}]*\})", text):
        for variant, numbers in ast.literal_eval(listed).items():
            seeds.setdefault(variant, set()).update(numbers)
    return seeds


def _subsections(section: str) -> tuple[str, dict[str, str]]:
    """(the text before the first `### ` heading, {name: subsection}) of a results section; a subsection runs
    from its heading `### name: ...` to the next heading, and ends with one blank line."""
    head, *parts = re.split(r"(?m)^(?=### )", section)
    return head, {part[4:].split(":", 1)[0].split("\n", 1)[0].strip(): part.rstrip("\n") + "\n\n" for part in parts}


def clutrr_files(folder: Path) -> tuple[Path, list[Path]]:
    """A CLUTRR folder's training file and its test files, in (noise, k) order: 1.2, 1.3, …, 1.10."""
    tests = sorted(folder.glob("*_test.csv"), key=lambda path: [int(n) for n in re.findall(r"\d+", path.name)])
    return next(folder.glob("*train*")), tests


def score_clutrr_folders(datasets: Path, names: list[str], score) -> dict | None:
    """{name: score(folder)} for the CLUTRR folders `names` under `datasets`; None (after saying which) when one
    is missing."""
    scored = {}
    for name in names:
        folder = datasets / "clutrr" / name
        if not folder.is_dir():
            print(f"{folder}: not found (pass --datasets)", file=sys.stderr)
            return None
        scored[name] = score(folder)
    return scored
