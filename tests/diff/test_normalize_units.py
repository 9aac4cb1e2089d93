"""Normalization rules one by one: what a client varies between runs and machines is masked, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from rec import normalize
from rec.config import ConfigError, load_normalizer
from rec.normalize import MaskTimeoutError, Normalizer, machine_folders

ENVIRONMENT = ("<environment_context>\n  <cwd>{cwd}</cwd>\n  <shell>{shell}</shell>\n  <current_date>{day}"
               "</current_date>\n  <timezone>{tz}</timezone>\n  <filesystem><workspace_roots><root>{cwd}</root>"
               "</workspace_roots></filesystem>\n</environment_context>")
SKILLS = "### Skill roots\n- `r0` = `{home}/.codex/skills/.system`\n"


def codex_request(cwd: str, home: str, chunk: str, day: str, tz: str = "Etc/UTC", shell: str = "bash") -> dict:
    """The parts of a Codex request that depend on the machine and the run, around what the user asked."""
    return {
        "instructions": SKILLS.format(home=home),
        "input": [
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": ENVIRONMENT.format(cwd=cwd, shell=shell, day=day, tz=tz)}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list the files"}]},
            {"type": "function_call_output", "call_id": "call_1",
             "output": f"Chunk ID: {chunk}\nWall time: 0.0031 seconds\nProcess exited with code 0\n"
                       f"Output:\n{cwd}/src/main.py\n"},
        ],
    }


def test_a_codex_session_from_another_machine_and_day_normalizes_the_same() -> None:
    laptop = codex_request("/Users/ana/code/app", "/Users/ana", "3d7910", "2026-11-25", "Europe/Paris", "zsh")
    ci = codex_request("/home/runner/src/app", "/home/runner", "a81f0c", "2027-02-01")
    assert Normalizer().body(laptop) == Normalizer().body(ci)


def test_what_the_user_asked_still_differs() -> None:
    one = codex_request("/w/app", "/root", "1", "2026-01-01")
    two = codex_request("/w/app", "/root", "1", "2026-01-01")
    two["input"][1]["content"][0]["text"] = "list the folders"
    assert Normalizer().body(one) != Normalizer().body(two)


def test_learned_folders_are_whole_paths_only() -> None:
    home = "/root"  # a container's home, whose name is also a tag of Codex's <environment_context>
    texts = [ENVIRONMENT.format(cwd=f"{home}/app", shell="", day="", tz=""), SKILLS.format(home=home)]
    assert machine_folders(texts) == [(f"{home}/.codex", "<codex_home>"), (f"{home}/app", "<cwd>"), (home, "<home>")]
    text = Normalizer().body({"a": ENVIRONMENT.format(cwd=home, shell="", day="", tz="") + f" {home}ed {home}/x"})
    assert "</root>" in text["a"] and "/rooted" in text["a"] and "<cwd>/x" in text["a"]


def test_user_masks_replace_matches_in_every_string() -> None:
    normalizer = Normalizer().with_masks([r"run-\d+"])
    assert normalizer.body({"a": ["run-12 started", {"b": "run-7"}]}) == {"a": ["<masked> started", {"b": "<masked>"}]}
    assert Normalizer(mask_volatile=False).with_masks(["x"]).body({"id": "resp_x1"}) == {"id": "resp_<masked>1"}


def test_a_projects_mask_with_lookaround_is_matched_as_before_rec_used_re2(tmp_path: Path) -> None:
    """Lookaround and backreferences (which RE2 has not) in the project's own masks, as an older rec took them."""
    (tmp_path / "rec.toml").write_text('mask = ["(?<=build-)[0-9]+"]\n')
    normalizer = load_normalizer(start=tmp_path, masks=[r"(['\"])secret\1"])
    assert normalizer.body({"a": "build-42 'secret' \"secret'"}) == {"a": "build-<masked> <masked> \"secret'"}


def test_a_lookaround_mask_sent_to_a_shared_server_is_refused_in_one_line() -> None:
    # rec serve takes masks from whoever creates a session: RE2 only, so none can stall another session.
    with pytest.raises(ValueError, match=r"uses lookaround or a backreference .* masks are matched by RE2"):
        Normalizer().with_masks(["(?<=build-)[0-9]+"])
    with pytest.raises(ValueError, match="is not a valid regular expression"):
        Normalizer().with_masks(["(?<=build-"], backtracking=True)


def test_a_backtracking_mask_that_runs_too_long_stops_the_run_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(normalize, "BACKTRACKING_MASK_SECONDS", 0.05)
    normalizer = Normalizer().with_masks([r"(a|a)+$(?!x)"], backtracking=True)  # 2^28 ways to split the a's
    with pytest.raises(MaskTimeoutError, match=r"mask '\(a\|a\)\+\$\(\?!x\)' ran over 0\.05 s on a string of 29"):
        normalizer.body({"a": "a" * 28 + "!"})


def test_masks_from_settings_and_arguments_and_a_bad_one_named(tmp_path: Path) -> None:
    (tmp_path / "rec.toml").write_text('mask = ["build-[0-9]+"]\n')
    normalizer = load_normalizer(start=tmp_path, masks=["tok-[a-z]+"])
    assert normalizer.body({"a": "build-42 tok-abc"}) == {"a": "<masked> <masked>"}
    with pytest.raises(ConfigError, match=r"--mask: mask '\[' is not a valid regular expression"):
        load_normalizer(start=tmp_path, masks=["["])
    (tmp_path / "rec.toml").write_text('mask = ["("]\n')
    with pytest.raises(ConfigError, match=r"rec\.toml"):
        load_normalizer(start=tmp_path)
