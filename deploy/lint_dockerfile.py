"""Structural checks of Bridge's Dockerfile that hadolint does not make.

Usage: python deploy/lint_dockerfile.py [Dockerfile ...]   (default: deploy/Dockerfile)

Rules (each problem is printed as ``path:line: RULE message``; exit 1 if any):
  BR001  every FROM names a pinned image: an explicit version tag (not ``latest``)
         or a ``@sha256:`` digest; ARG defaults used in FROM are resolved first
  BR002  the final stage switches to a non-root USER before its CMD/ENTRYPOINT
         (a missing USER means root)
  BR003  no ADD of a URL (use a pinned package, or COPY a checked file)
  BR004  the final stage has a HEALTHCHECK (not ``HEALTHCHECK NONE``)
  BR005  the final stage has a CMD or ENTRYPOINT
Standard library only, so it runs anywhere Python does.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parent / "Dockerfile"
ROOT_USERS = {"root", "0"}


@dataclass
class Instruction:
    line: int
    keyword: str
    argument: str


@dataclass
class Stage:
    line: int
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)


def parse(text: str) -> tuple[list[Instruction], list[Instruction]]:
    """Instructions (with continuation lines joined) before the first FROM, and after it."""
    instructions: list[Instruction] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        keyword, _, argument = buffer.partition(" ")
        instructions.append(Instruction(start, keyword.upper(), argument.strip()))
        buffer = ""
    if buffer:
        keyword, _, argument = buffer.partition(" ")
        instructions.append(Instruction(start, keyword.upper(), argument.strip()))
    first_from = next((i for i, ins in enumerate(instructions) if ins.keyword == "FROM"), len(instructions))
    return instructions[:first_from], instructions[first_from:]


def resolve_args(value: str, args: dict[str, str]) -> str:
    def substitute(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        return args.get(name, match.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", substitute, value)


def stages_of(text: str) -> tuple[list[Stage], dict[str, str]]:
    preamble, body = parse(text)
    args: dict[str, str] = {}
    for ins in preamble:
        if ins.keyword == "ARG" and "=" in ins.argument:
            name, _, default = ins.argument.partition("=")
            args[name.strip()] = default.strip().strip("\"'")
    stages: list[Stage] = []
    for ins in body:
        if ins.keyword == "FROM":
            words = [w for w in ins.argument.split() if not w.startswith("--")]
            image = resolve_args(words[0], args) if words else ""
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append(Stage(ins.line, image, name))
        elif stages:
            stages[-1].instructions.append(ins)
    return stages, args


def image_is_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    if "$" in image:
        return False  # an ARG without a default: anything could be built
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    tag = last.split(":", 1)[1]
    return tag != "latest" and bool(re.search(r"\d", tag))


def lint(text: str, path: str = "Dockerfile") -> list[str]:
    problems: list[str] = []

    def report(line: int, rule: str, message: str) -> None:
        problems.append(f"{path}:{line}: {rule} {message}")

    stages, _ = stages_of(text)
    if not stages:
        report(1, "BR001", "no FROM instruction")
        return problems
    names = {stage.name for stage in stages if stage.name}
    for stage in stages:
        if stage.image in names:
            continue  # built on an earlier stage of this file
        if not image_is_pinned(stage.image):
            report(stage.line, "BR001", f"base image {stage.image!r} is not pinned to a version tag or digest")
        for ins in stage.instructions:
            if ins.keyword == "ADD" and re.search(r"(^|\s)(https?|ftp)://", ins.argument):
                report(ins.line, "BR003", "ADD of a URL; fetch a pinned package or COPY a checked file instead")

    final = stages[-1]
    user: str | None = None
    user_line = final.line
    starts = [ins for ins in final.instructions if ins.keyword in {"CMD", "ENTRYPOINT"}]
    healthchecks = [ins for ins in final.instructions if ins.keyword == "HEALTHCHECK"]
    for ins in final.instructions:
        if ins.keyword == "USER":
            user = ins.argument.split(":", 1)[0].strip()
            user_line = ins.line
    if not starts:
        report(final.line, "BR005", "the final stage has no CMD or ENTRYPOINT")
    if user is None:
        report(final.line, "BR002", "the final stage has no USER: the container would run as root")
    elif user in ROOT_USERS:
        report(user_line, "BR002", f"the final stage runs as {user!r}; switch to an unprivileged user")
    else:
        for ins in starts:
            if ins.line < user_line:
                report(ins.line, "BR002", f"{ins.keyword} comes before the USER switch (line {user_line})")
    if not healthchecks:
        report(final.line, "BR004", "the final stage has no HEALTHCHECK")
    elif healthchecks[-1].argument.upper().startswith("NONE"):
        report(healthchecks[-1].line, "BR004", "HEALTHCHECK NONE disables the health check")
    return problems


def main(argv: list[str]) -> int:
    paths = [Path(arg) for arg in argv] or [DEFAULT_PATH]
    problems: list[str] = []
    for path in paths:
        problems += lint(path.read_text(encoding="utf-8"), str(path))
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"{', '.join(str(p) for p in paths)}: Dockerfile structure OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
