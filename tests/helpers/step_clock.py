"""A stand-in for :data:`drac_ssl.console.progress_clock`: progress-line tests make a line
due without waiting (shared by the engine, ingest, phantom and export tests; tests/helpers is
on the test path)."""


class StepClock:
    """A clock that moves ``per_call`` seconds each time it is read."""

    def __init__(self, per_call: float) -> None:
        self.now, self.per_call = 1000.0, per_call

    def __call__(self) -> float:
        self.now += self.per_call
        return self.now
