"""`tests.helpers.run_script(..., in_process=True)` behaves as the subprocess it replaces."""

from __future__ import annotations

import os
import sys

from tests.helpers import REPO, run_script


def test_in_process_run_reports_as_a_subprocess_and_restores_the_process(tmp_path):
    # catches: a warning recorded by pytest instead of printed, the data home or a variable the
    # script sets leaking into the tests after it, SystemExit or a traceback mistaken for success
    before = dict(os.environ), sys.argv[:], sys.path[:], os.getcwd()
    script = ("import os, sys, warnings; warnings.warn('careful'); "
              "print(os.environ['ADMLC_DATA_HOME'], os.getcwd(), sys.argv[1:]); "
              "os.environ['ADMLC_SET_BY_SCRIPT'] = '1'; sys.path.insert(0, '/x'); sys.exit(3)")
    result = run_script("-c", script, "--flag", data_home=tmp_path, in_process=True)
    assert result.returncode == 3
    assert result.stdout == f"{tmp_path} {REPO} ['--flag']\n"
    assert "UserWarning: careful" in result.stderr
    assert (dict(os.environ), sys.argv, sys.path, os.getcwd()) == before

    failed = run_script("-c", "raise ValueError('boom')", in_process=True)
    assert failed.returncode == 1 and "Traceback" in failed.stderr
    assert failed.stderr.strip().splitlines()[-1] == "ValueError: boom"
    message = run_script("-c", "import sys; sys.exit('no')", in_process=True)
    assert (message.returncode, message.stderr, message.stdout) == (1, "no\n", "")
