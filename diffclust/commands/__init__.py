"""`diffclust <command>`: each module here is a subcommand with ``HELP`` and ``main(argv)``."""
