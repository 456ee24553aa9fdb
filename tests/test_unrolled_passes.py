"""scripts/write_unrolled_passes.py: the kernels' unrolled passes are what it writes, and its --write
rewrites only their marked regions (text only: nothing is compiled)."""

import shutil
from pathlib import Path

import pytest

import script_loading

ROOT = Path(__file__).resolve().parents[1]
generator = script_loading.load_script("write_unrolled_passes")


def region_of(text):
    """The text between the file's two marker lines (each must stand exactly once)."""
    _, rest = text.split(f"{generator.BEGIN}\n")
    region, _ = rest.split(f"{generator.END}\n")
    return region


@pytest.mark.parametrize("path", ["cwfast/_voice_kernels.py", "cwfast/_kernels.py"])
def test_each_kernel_file_holds_the_generators_passes_between_its_markers(path):
    assert region_of((ROOT / path).read_text()) == generator.generated()[path]


def test_the_printed_source_is_each_files_marked_region(capsys):
    generator.main([])
    printed = capsys.readouterr().out
    for path in generator.GENERATED:
        region = region_of((ROOT / path).read_text())
        assert f"# {path}\n{generator.BEGIN}\n{region}{generator.END}\n" in printed


def copy_kernel_files(tmp_path):
    """Copies of the kernel files under tmp_path, as the repository has them: {path: text}."""
    (tmp_path / "cwfast").mkdir()
    for path in generator.GENERATED:
        shutil.copyfile(ROOT / path, tmp_path / path)
    return {path: (ROOT / path).read_text() for path in generator.GENERATED}


def edit(file, old, new):
    text = file.read_text()
    assert text.count(old) == 1
    file.write_text(text.replace(old, new))


def test_write_restores_the_passes_in_a_copy_and_keeps_the_rest_of_each_file(tmp_path, capsys):
    originals = copy_kernel_files(tmp_path)
    # a pass edited by hand, and lines outside the regions that are the files' own
    edit(tmp_path / "cwfast/_voice_kernels.py", "        a7_3 += w7 * g3\n", "        a7_3 += w7 * g4\n")
    edit(tmp_path / "cwfast/_kernels.py", "        a1 += row1[c] * v\n    work[unit], work[unit + 1] = a0, a1\n",
         "        a1 -= row1[c] * v\n    work[unit], work[unit + 1] = a0, a1\n")
    edit(tmp_path / "cwfast/_kernels.py", "\n\n@numba.njit(**_JIT)\ndef _matvec_repeat",
         "\n\n# kept\n@numba.njit(**_JIT)\ndef _matvec_repeat")
    edit(tmp_path / "cwfast/_voice_kernels.py", "\n\n@numba.njit(**_HOT)\ndef _add_into",
         "\n\n# kept\n@numba.njit(**_HOT)\ndef _add_into")

    generator.main(["--write", "--root", str(tmp_path)])
    assert capsys.readouterr().out == "rewrote cwfast/_voice_kernels.py, cwfast/_kernels.py\n"
    for path, text in originals.items():
        assert "# kept\n" in (tmp_path / path).read_text()
        assert (tmp_path / path).read_text().replace("# kept\n", "") == text
    assert sorted(p.name for p in (tmp_path / "cwfast").iterdir()) == ["_kernels.py", "_voice_kernels.py"]

    # run again: nothing to change, and a file already as generated is not written at all
    stamps = {path: (tmp_path / path).stat().st_mtime_ns for path in originals}
    generator.main(["--write", "--root", str(tmp_path)])
    assert capsys.readouterr().out == "every marked region is already as generated\n"
    assert {path: (tmp_path / path).stat().st_mtime_ns for path in originals} == stamps


@pytest.mark.parametrize("damage, message", [
    (lambda text: text.replace(f"{generator.END}\n", ""), "needs one line"),
    (lambda text: text.replace(f"{generator.BEGIN}\n", f"{generator.BEGIN}\n{generator.BEGIN}\n"), "needs one line"),
    (lambda text: text.replace(f"{generator.BEGIN}\n", "#\n").replace(f"{generator.END}\n", f"{generator.BEGIN}\n")
     .replace("\ndef _rows4(", f"\n{generator.END}\ndef _rows4("), "comes before"),
])
def test_write_refuses_markers_it_cannot_trust_and_writes_no_file(tmp_path, capsys, damage, message):
    copy_kernel_files(tmp_path)
    # the voice kernels' region needs rewriting, but _kernels.py (read after it) is refused
    edit(tmp_path / "cwfast/_voice_kernels.py", "        a7_3 += w7 * g3\n", "        a7_3 += w7 * g4\n")
    kernels = tmp_path / "cwfast/_kernels.py"
    kernels.write_text(damage(kernels.read_text()))
    before = {path: (tmp_path / path).read_text() for path in generator.GENERATED}

    with pytest.raises(SystemExit) as exit:
        generator.main(["--write", "--root", str(tmp_path)])
    assert exit.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert ": error: cwfast/_kernels.py: " in error and message in error
    assert {path: (tmp_path / path).read_text() for path in generator.GENERATED} == before


def test_write_refuses_a_checkout_without_the_kernel_files(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        generator.main(["--write", "--root", str(tmp_path)])
    assert exit.value.code == 2
    assert "No such file or directory" in capsys.readouterr().err.splitlines()[-1]
