"""Automations under load; prints figures (docs/benchmarks.md, issue 13).

    .venv/bin/python bench/automations.py [tick] [options]   the scheduler's tick with 1,000,000 waiting
                                                             journeys, and the frequency cap's snapshot cost
    .venv/bin/python bench/automations.py welcome [options]  a welcome series for N people confirmed at once,
                                                             workers killed during the run, counted at smtp-sink

``--help`` after the command lists its options; the modules' docstrings say what each measures.
"""

import sys


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["welcome"]:
        import automations_welcome

        automations_welcome.main(argv[1:])
        return
    import automations_tick

    automations_tick.main(argv[1:] if argv[:1] == ["tick"] else argv)


if __name__ == "__main__":
    main()
