"""The command-line examples in README.md run and print what they show."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def console_examples():
    """``(command, expected output)`` for every ``$ feynflow`` line."""
    text = README.read_text(encoding="utf-8")
    examples = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        command, output = None, []
        for line in block.splitlines():
            if line.startswith("$ "):
                if command:
                    examples.append((command, "\n".join(output)))
                command, output = line[2:], []
            else:
                output.append(line)
        if command:
            examples.append((command, "\n".join(output)))
    return examples


def test_readme_has_console_examples():
    assert len(console_examples()) >= 2


@pytest.mark.parametrize("command, expected", console_examples())
def test_readme_console_example(command, expected):
    argv = shlex.split(command)
    assert argv[0] == "feynflow"
    result = subprocess.run(
        [sys.executable, "-m", "feynflow", *argv[1:]],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected.strip()


def test_quick_start_holds_exactly_two_commands():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert "pytest" in commands[1]
