"""The test suite."""

FIGURES: list[str] = []  # lines the robustness tests report, printed at the end of a run
