"""The ``klaviyo-analytics`` command line: thin commands that parse, call one service, format."""
