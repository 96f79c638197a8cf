"""The package under test is the installed one, with the library bundled in it."""

import os

import pytest

import remsess


def test_the_installed_package_and_its_bundled_library_are_used():
    venv = os.environ.get("REMSESS_EXPECT_INSTALLED")
    if not venv:
        pytest.skip("not run through tests/python/run.sh (the install path is not under test)")
    pkg = os.path.dirname(os.path.abspath(remsess.__file__))
    assert pkg.startswith(os.path.realpath(venv) + os.sep) or pkg.startswith(venv + os.sep)
    assert remsess.library_path() == os.path.join(pkg, "_lib", "libremsess.so.0")
    assert os.path.isfile(remsess.library_path())


def test_the_library_version_matches_the_package():
    assert remsess.library_version() == remsess.__version__
    assert "cim" in remsess.features()


def test_a_wrong_remsess_library_is_a_clear_import_error(tmp_path):
    import subprocess
    import sys
    env = dict(os.environ, REMSESS_LIBRARY=str(tmp_path / "nope.so"))
    p = subprocess.run([sys.executable, "-c", "import remsess"], env=env, capture_output=True,
                       text=True)
    assert p.returncode != 0
    assert "ImportError" in p.stderr and "REMSESS_LIBRARY" in p.stderr and "nope.so" in p.stderr
