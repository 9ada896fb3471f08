"""The Nu HTML Checker (vnu-jar from npm): run once over many pages (the JVM is slow to start)."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.app import ROOT

VNU_JAR = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
needs_java = pytest.mark.skipif(shutil.which("java") is None,
                                reason="java is not installed, so the Nu HTML Checker cannot run")


def check_with_vnu(pages: dict[str, str], directory: Path) -> tuple[list[str], list[str]]:
    """Run vnu once over every page; returns (errors, other messages), each described by page,
    line, message and extract."""
    names = {}
    for number, (name, html) in enumerate(pages.items()):
        assert html.lstrip().lower().startswith("<!doctype html>"), f"{name} is not a whole page"
        path = directory / f"page{number:03d}.html"
        path.write_text(html, encoding="utf-8")
        names[path.name] = name
    result = subprocess.run(
        ["java", "-jar", str(VNU_JAR), "--format", "json", "--stdout", *[str(directory / n) for n in sorted(names)]],
        capture_output=True, text=True, timeout=600,
    )
    assert result.stdout, result.stderr
    report = json.loads(result.stdout)

    def describe(message):
        page = names.get(Path(message.get("url", "").removeprefix("file:")).name, message.get("url"))
        return (f"{page} (line {message.get('lastLine')}): {message['message']}\n"
                f"    {message.get('extract', '').strip()}")

    errors = [describe(m) for m in report["messages"] if m.get("type") == "error"]
    others = [f"{m.get('subType', m.get('type'))}: {describe(m)}" for m in report["messages"]
                  if m.get("type") != "error"]
    return errors, others
