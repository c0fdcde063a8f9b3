"""Allow ``python -m trainlab`` as an alias of the ``trainlab`` command."""

from trainlab.cli.main import main

if __name__ == "__main__":
    main()
