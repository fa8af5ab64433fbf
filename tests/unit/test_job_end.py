"""How an agent's job ends when something stopped it: interrupted on the machine is ``Aborted``, the rest
``Failed`` with the error's message."""

from __future__ import annotations

from vaultlink.agent.job_progress import job_end
from vaultlink.errors import Interrupted, StorageFull, all_codes


def test_an_interruption_aborts_the_job_and_any_other_error_fails_it() -> None:
    assert job_end(KeyboardInterrupt()) == ("Aborted", "interrupted on the machine (Ctrl-C or SIGTERM) before it "
                                                        "finished")
    assert job_end(Interrupted("restore stopped"))[0] == "Aborted"
    assert job_end(StorageFull("the blob store is full")) == ("Failed", "the blob store is full")
    assert job_end(OSError(28, "No space left on device", "/restore/a.txt")) == (
        "Failed", "/restore/a.txt: No space left on device; free space on that disk (or choose another place), "
                  "then run the command again.")
    assert job_end(ValueError("bad")) == ("Failed", "ValueError: bad")


def test_the_interrupted_error_exits_as_shells_report_an_interrupted_command() -> None:
    cls = all_codes()["Interrupted"]
    assert cls.exit_code == 130 and "run it again" in cls().message
